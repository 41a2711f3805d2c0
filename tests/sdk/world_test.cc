// Joining from torchrun-style, MPI and Slurm environments.
#include <gtest/gtest.h>

#include <map>

#include "ops/base/error.h"
#include "sdk/runtime/world.h"

namespace loom::runtime {
namespace {

WorldInfo FromMap(const std::map<std::string, std::string>& env) {
  return WorldInfoFromEnv([&](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  });
}

TEST(WorldInfoTest, NoEnvironmentIsAWorldOfOne) {
  const auto info = FromMap({});
  EXPECT_EQ(info.world_size, 1);
  EXPECT_EQ(info.rank, 0);
  EXPECT_EQ(info.source, "none");
}

TEST(WorldInfoTest, TorchrunStyle) {
  const auto info = FromMap({{"RANK", "3"}, {"WORLD_SIZE", "4"}, {"LOCAL_RANK", "1"},
                             {"MASTER_ADDR", "10.1.2.3"}, {"MASTER_PORT", "1234"}});
  EXPECT_EQ(info.rank, 3);
  EXPECT_EQ(info.world_size, 4);
  EXPECT_EQ(info.local_rank, 1);
  EXPECT_EQ(info.master_addr, "10.1.2.3");
  EXPECT_EQ(info.master_port, 1234);
  EXPECT_EQ(info.source, "torchrun");
}

TEST(WorldInfoTest, OpenMpiAndSlurm) {
  auto mpi = FromMap({{"OMPI_COMM_WORLD_RANK", "2"}, {"OMPI_COMM_WORLD_SIZE", "8"},
                      {"OMPI_COMM_WORLD_LOCAL_RANK", "0"}});
  EXPECT_EQ(mpi.rank, 2);
  EXPECT_EQ(mpi.world_size, 8);
  EXPECT_EQ(mpi.source, "mpi");
  auto slurm = FromMap({{"SLURM_PROCID", "5"}, {"SLURM_NTASKS", "6"}});
  EXPECT_EQ(slurm.rank, 5);
  EXPECT_EQ(slurm.local_rank, 5);
  EXPECT_EQ(slurm.source, "slurm");
}

TEST(WorldInfoTest, MalformedValuesNameTheVariable) {
  try {
    FromMap({{"RANK", "4"}, {"WORLD_SIZE", "4"}});
    ADD_FAILURE();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("RANK='4' is not an integer in [0, 3]"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(FromMap({{"RANK", "0"}}), ConfigError);
  EXPECT_THROW(FromMap({{"RANK", "0"}, {"WORLD_SIZE", "x"}}), ConfigError);
  EXPECT_THROW(FromMap({{"MASTER_PORT", "70000"}}), ConfigError);
}

}  // namespace
}  // namespace loom::runtime
