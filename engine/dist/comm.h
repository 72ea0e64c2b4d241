// engine/dist: the communicator that data-parallel training runs on. No transport of our own:
// Open MPI carries processes and machines (mpi.cpp, compiled when CMake finds MPI), NCCL carries
// GPUs (nccl.cpp, compiled when the CUDA toolkit ships nccl.h and libnccl; its unique id travels
// over MPI). Without MPI every process is a world of one (size 1), and a process that mpirun
// started with several ranks refuses to run rather than train N unrelated copies.
//
// Collectives are called by every rank in the same order (MPI's rule); buffers are host memory
// for the MPI backend and device memory for NCCL's.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace pw::dist {

// A collective started and not yet finished (Communicator::start_all_reduce_sum).
class Pending {
 public:
  virtual ~Pending() = default;
  virtual void wait() = 0;  // blocks until the buffer holds the sum; idempotent
  // Lets the transport make progress without blocking (MPI progresses a non-blocking collective
  // mostly inside MPI calls); true when finished.
  virtual bool test() { return false; }
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual int local_rank() const { return rank(); }  // among the ranks on this machine (GPU choice)
  virtual std::string backend() const = 0;           // "single", "mpi", "nccl"

  // In place: every rank's buffer becomes the element-wise sum over the ranks.
  virtual void all_reduce_sum(float* data, int64_t n) = 0;
  virtual void all_reduce_sum(double* data, int64_t n) = 0;
  // Non-blocking all-reduce: the buffer must stay untouched until wait(). Default: blocking.
  virtual std::unique_ptr<Pending> start_all_reduce_sum(float* data, int64_t n);
  virtual void broadcast(void* data, int64_t bytes, int root) = 0;
  virtual void barrier() = 0;
  // Ends every rank of the job (MPI_Abort): how a failing rank stops the others instead of
  // leaving them blocked in a collective. Only the command line calls it. A world of one has no
  // other rank to stop: it throws pw::Error (as does MPI's, should MPI_Abort ever return).
  [[noreturn]] virtual void abort(int code) = 0;
};

// The world of this process: MPI's when the process was started by mpirun (or another MPI
// launcher) and patchwork was built with MPI, else a world of one. Created on first use.
// Throws pw::Error when a launcher asks for several ranks and this build has no MPI.
Communicator& world();
// The world if world() has made it, else null (for error paths that must not start MPI).
Communicator* started_world();

// How many ranks the launcher asked for (OMPI_COMM_WORLD_SIZE, PMI_SIZE, PMIX/SLURM not read),
// 1 when none; and this build's backends ("mpi", "nccl").
int launcher_size();
bool built_with_mpi();
bool built_with_nccl();

// A world of one of its own (every collective the identity, on any memory): tests, and a
// single process's stand-in for a device-memory communicator.
std::unique_ptr<Communicator> make_single();

// Used by world(); defined in mpi.cpp (null without MPI).
std::unique_ptr<Communicator> make_mpi_world();

// A NCCL communicator over the ranks of `bootstrap` (an MPI world): rank 0 creates the unique
// id and broadcasts it; every rank uses GPU `device_index`. Throws pw::Error when this build
// has no NCCL. Buffers given to it are device pointers.
std::unique_ptr<Communicator> make_nccl(Communicator& bootstrap, int device_index);

// sum over ranks of one double per rank in slot rank(): every rank gets the whole vector.
std::vector<double> all_gather(Communicator& comm, double value);

}  // namespace pw::dist
