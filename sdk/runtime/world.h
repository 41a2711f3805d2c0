// How this process joins the job: its rank, the world size and where the
// rendezvous store lives, read from the environment.
//
// Accepted environments, first match wins:
//   torchrun-style  RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT
//                   (what `loom launch` sets, and torchrun / Kubernetes jobs)
//   MPI             OMPI_COMM_WORLD_RANK/SIZE/LOCAL_RANK (mpirun), PMI_RANK/
//                   PMI_SIZE (MPICH/Hydra), SLURM_PROCID/SLURM_NTASKS (srun);
//                   MASTER_ADDR/MASTER_PORT still name rank 0's store
//                   (defaults 127.0.0.1:29500).
//   none            a world of one.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "parallel/comm/communicator.h"
#include "parallel/comm/c10d_communicator.h"

namespace loom::runtime {

struct WorldInfo {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  std::string master_addr = "127.0.0.1";
  uint16_t master_port = 29500;
  std::string source = "none";  // "torchrun", "mpi", "slurm", "none"
};

// Reads a WorldInfo through `getenv` (injectable for tests). Throws
// loom::ConfigError naming the variable and the fix on malformed values.
WorldInfo WorldInfoFromEnv(const std::function<const char*(const char*)>& getenv);
WorldInfo WorldInfoFromEnv();

// Rendezvous through a TCPStore hosted by rank 0 and join the world group.
comm::CommunicatorPtr JoinWorld(const WorldInfo& info, const comm::CommOptions& options);

// Collective timeout from LOOM_COMM_TIMEOUT_S (seconds), else `fallback`.
std::chrono::milliseconds CommTimeoutFromEnv(std::chrono::milliseconds fallback);

}  // namespace loom::runtime
