// engine/dist: the world of one, the launcher's environment, and world(). See comm.h.
#include "engine/dist/comm.h"

#include <cstdlib>
#include <mutex>

#include "engine/util/error.h"

namespace pw::dist {

namespace {

class Done : public Pending {
 public:
  void wait() override {}
  bool test() override { return true; }
};

// One process: every collective is the identity.
class SingleProcess : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string backend() const override { return "single"; }
  void all_reduce_sum(float*, int64_t) override {}
  void all_reduce_sum(double*, int64_t) override {}
  void broadcast(void*, int64_t, int root) override {
    PW_CHECK(root == 0, "dist: broadcast from rank ", root, " in a world of one");
  }
  void barrier() override {}
  // Nothing else to stop: the caller's error goes on as an exception (library code never exits).
  [[noreturn]] void abort(int code) override {
    PW_FAIL("dist: abort(", code, ") in a world of one: there is no other rank to stop");
  }
};

int env_int(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : 0;
}

}  // namespace

std::unique_ptr<Pending> Communicator::start_all_reduce_sum(float* data, int64_t n) {
  all_reduce_sum(data, n);
  return std::make_unique<Done>();
}

int launcher_size() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"})
    if (const int n = env_int(name); n > 0) return n;
  return 1;
}

namespace {
std::unique_ptr<Communicator> the_world;
}

Communicator* started_world() { return the_world.get(); }

Communicator& world() {
  std::unique_ptr<Communicator>& w = the_world;
  static std::once_flag once;
  std::call_once(once, [] {
    const int asked = launcher_size();
    if (built_with_mpi() && (std::getenv("OMPI_COMM_WORLD_SIZE") || asked > 1)) w = make_mpi_world();
    if (!w) {
      PW_CHECK(asked <= 1, "dist: the launcher started ", asked,
               " ranks, but this patchwork was built without MPI "
               "(CMake did not find it): install Open MPI (libopenmpi-dev, openmpi-bin; tools/setup.sh does) and "
               "rebuild, or run one process without mpirun");
      w = std::make_unique<SingleProcess>();
    }
  });
  return *w;
}

std::unique_ptr<Communicator> make_single() { return std::make_unique<SingleProcess>(); }

std::vector<double> all_gather(Communicator& comm, double value) {
  std::vector<double> v(comm.size(), 0.0);
  v[comm.rank()] = value;
  comm.all_reduce_sum(v.data(), (int64_t)v.size());
  return v;
}

}  // namespace pw::dist
