// Running a program (the `patchwork` command line) as a child process for tests of what happens
// to it from outside: a kill at a random moment, a file-size or memory limit.
#pragma once
#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

namespace pw::testing {

// Starts argv[0] with `argv`, stdout and stderr to the file `log`; `in_child` runs in the child
// before exec (to set resource limits). Returns the child's pid.
pid_t spawn(const std::vector<std::string>& argv, const std::string& log, const std::function<void()>& in_child = {});

struct Finished {
  bool exited = false;  // false: ended by a signal
  int code = -1;        // the exit status, or the signal
  std::string out;      // stdout and stderr together
};

// Waits for `pid` (started with log `log`, not yet reaped) and reads what it printed.
Finished wait_for(pid_t pid, const std::string& log);

// Finished from a status that waitpid already returned.
Finished finished_from(int status, const std::string& log);

// spawn + wait_for.
Finished run_to_end(const std::vector<std::string>& argv, const std::string& log,
                    const std::function<void()>& in_child = {});

// Splits "a b c" at spaces (for flags written as one string).
std::vector<std::string> words(const std::string& s);

}  // namespace pw::testing
