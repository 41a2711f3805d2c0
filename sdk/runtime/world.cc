#include "sdk/runtime/world.h"

#include <cstdlib>

#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "ops/base/error.h"

namespace loom::runtime {
namespace {

int ParseInt(const char* name, const char* value, int lo, int hi) {
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(value, &end, 10);
  if (errno != 0 || end == value || *end != '\0' || v < lo || v > hi) {
    throw ConfigError(ErrorWithFix(std::string("environment variable ") + name + "='" + value +
                                       "' is not an integer in [" + std::to_string(lo) + ", " +
                                       std::to_string(hi) + "]",
                                   std::string("set ") + name + " correctly or unset it"));
  }
  return static_cast<int>(v);
}

}  // namespace

WorldInfo WorldInfoFromEnv(const std::function<const char*(const char*)>& getenv) {
  WorldInfo info;
  struct Source {
    const char* name;
    const char* rank;
    const char* size;
    const char* local_rank;
  };
  const Source sources[] = {
      {"torchrun", "RANK", "WORLD_SIZE", "LOCAL_RANK"},
      {"mpi", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK"},
      {"mpi", "PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID"},
      {"slurm", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID"},
  };
  for (const Source& s : sources) {
    const char* rank = getenv(s.rank);
    const char* size = getenv(s.size);
    if (!rank && !size) continue;
    if (!rank || !size) {
      throw ConfigError(ErrorWithFix(std::string(rank ? s.rank : s.size) + " is set but " +
                                         (rank ? s.size : s.rank) + " is not",
                                     "set both, or neither for a single process"));
    }
    info.world_size = ParseInt(s.size, size, 1, 1 << 20);
    info.rank = ParseInt(s.rank, rank, 0, info.world_size - 1);
    const char* local = getenv(s.local_rank);
    info.local_rank = local ? ParseInt(s.local_rank, local, 0, 1 << 20) : info.rank;
    info.source = s.name;
    break;
  }
  if (const char* addr = getenv("MASTER_ADDR"); addr && *addr) info.master_addr = addr;
  if (const char* port = getenv("MASTER_PORT"); port && *port) {
    info.master_port = static_cast<uint16_t>(ParseInt("MASTER_PORT", port, 1, 65535));
  }
  return info;
}

WorldInfo WorldInfoFromEnv() {
  return WorldInfoFromEnv([](const char* name) { return std::getenv(name); });
}

std::chrono::milliseconds CommTimeoutFromEnv(std::chrono::milliseconds fallback) {
  const char* v = std::getenv("LOOM_COMM_TIMEOUT_S");
  if (!v || !*v) return fallback;
  return std::chrono::seconds(ParseInt("LOOM_COMM_TIMEOUT_S", v, 1, 86400));
}

comm::CommunicatorPtr JoinWorld(const WorldInfo& info, const comm::CommOptions& options) {
  c10d::TCPStoreOptions store_options;
  store_options.port = info.master_port;
  store_options.isServer = info.rank == 0;
  store_options.numWorkers = info.world_size;
  store_options.waitWorkers = true;
  store_options.timeout = options.timeout;
  c10::intrusive_ptr<c10d::Store> store;
  try {
    store = c10::make_intrusive<c10d::TCPStore>(info.master_addr, store_options);
  } catch (const std::exception& e) {
    throw DistNetworkError(ErrorWithFix(
        "rank " + std::to_string(info.rank) + " could not reach the rendezvous store at " +
            info.master_addr + ":" + std::to_string(info.master_port) + ": " + e.what(),
        "check MASTER_ADDR/MASTER_PORT, that rank 0 is running, and that the port is free"));
  }
  return comm::C10dCommunicator::Create(store, info.rank, info.world_size, options, "world");
}

}  // namespace loom::runtime
