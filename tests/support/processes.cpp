// Child processes for tests: see processes.h.
#include "tests/support/processes.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>

#include "engine/util/error.h"
#include "tests/support/json_files.h"

namespace pw::testing {

pid_t spawn(const std::vector<std::string>& argv, const std::string& log, const std::function<void()>& in_child) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = fork();
  PW_CHECK(pid >= 0, "fork failed");
  if (pid == 0) {
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) _exit(126);
    dup2(fd, 1);
    dup2(fd, 2);
    close(fd);
    if (in_child) in_child();
    execv(args[0], args.data());
    _exit(127);
  }
  return pid;
}

Finished wait_for(pid_t pid, const std::string& log) {
  int status = 0;
  pid_t got;
  while ((got = waitpid(pid, &status, 0)) < 0 && errno == EINTR) {
  }
  PW_CHECK(got == pid, "waitpid(", pid, ") failed: ", std::strerror(errno));
  return finished_from(status, log);
}

Finished finished_from(int status, const std::string& log) {
  Finished f;
  f.exited = WIFEXITED(status);
  f.code = f.exited ? WEXITSTATUS(status) : WTERMSIG(status);
  f.out = read_text(log);
  return f;
}

Finished run_to_end(const std::vector<std::string>& argv, const std::string& log,
                    const std::function<void()>& in_child) {
  return wait_for(spawn(argv, log, in_child), log);
}

std::vector<std::string> words(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> w;
  for (std::string x; in >> x;) w.push_back(x);
  return w;
}

}  // namespace pw::testing
