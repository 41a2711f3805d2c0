// `loom launch` as a real process: output prefixing, failure propagation,
// kill -9 of a rank mid-collective, a hung (stopped) rank, Ctrl-C, and no
// process left behind in any of those.
#include <gtest/gtest.h>

#include <signal.h>

#include <thread>

#include "tests/testing/subprocess.h"

namespace loom::testing {
namespace {

const std::string kLoom = LOOM_BINARY;

// Waits until `launcher` has `n` rank processes.
std::vector<pid_t> WaitForRanks(pid_t launcher, size_t n) {
  for (int i = 0; i < 200; ++i) {
    auto kids = ChildrenOf(launcher);
    if (kids.size() == n) return kids;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return ChildrenOf(launcher);
}

TEST(LauncherTest, PrefixesEveryLineWithItsRankAndSucceeds) {
  auto child = Spawn({kLoom, "launch", "--nproc", "3", "--", "/bin/sh", "-c",
                      "echo hello $RANK of $WORLD_SIZE at $MASTER_ADDR; echo oops >&2"});
  std::string out;
  ReadUntil(child, "", 30, &out);
  EXPECT_EQ(WaitExit(child, 30), 0) << out;
  for (int r = 0; r < 3; ++r) {
    const std::string rank = "[rank " + std::to_string(r) + "] ";
    EXPECT_NE(out.find(rank + "hello " + std::to_string(r) + " of 3 at 127.0.0.1"),
              std::string::npos) << out;
    EXPECT_NE(out.find(rank + "oops"), std::string::npos) << out;
  }
}

TEST(LauncherTest, AFailingRankStopsTheOthersPromptly) {
  const std::string marker = "317.25";  // unique sleep length, to find leftovers
  auto child = Spawn({kLoom, "launch", "--nproc", "3", "--", "/bin/sh", "-c",
                      "if [ $RANK = 1 ]; then sleep 0.5; exit 7; fi; exec sleep " + marker});
  double seconds = 0;
  std::string out;
  const int code = WaitExit(child, 30, &seconds);
  ReadUntil(child, "", 1, &out);
  EXPECT_EQ(code, 7);
  EXPECT_LT(seconds, 10.0);
  EXPECT_FALSE(AnyProcessWithMarker("sleep " + marker));
}

TEST(LauncherTest, KillNineOfARankDuringCommCheckEndsTheJobWithin30s) {
  const std::string marker = "--duration 611";
  auto child = Spawn({kLoom, "launch", "--nproc", "3", "--", kLoom, "comm-check", "--duration",
                      "611", "--bytes", "65536", "--timeout", "120"});
  auto ranks = WaitForRanks(child.pid, 3);
  ASSERT_EQ(ranks.size(), 3u);
  std::this_thread::sleep_for(std::chrono::seconds(2));  // inside the collective loop
  ::kill(ranks[1], SIGKILL);
  double seconds = 0;
  const int code = WaitExit(child, 40, &seconds);
  std::string out;
  ReadUntil(child, "", 1, &out);
  EXPECT_NE(code, 0);
  EXPECT_NE(code, -1) << "launcher did not exit";
  EXPECT_LT(seconds, 30.0);
  EXPECT_FALSE(AnyProcessWithMarker(marker));
}

TEST(LauncherTest, AStoppedRankIsDetectedByItsHeartbeat) {
  const std::string marker = "--duration 612";
  auto child = Spawn({kLoom, "launch", "--nproc", "2", "--hang-timeout", "3", "--", kLoom,
                      "comm-check", "--duration", "612", "--bytes", "4096", "--timeout", "300"});
  auto ranks = WaitForRanks(child.pid, 2);
  ASSERT_EQ(ranks.size(), 2u);
  std::this_thread::sleep_for(std::chrono::seconds(2));
  ::kill(ranks[0], SIGSTOP);
  double seconds = 0;
  std::string out;
  const bool said = ReadUntil(child, "stopped responding", 30, &out);
  const int code = WaitExit(child, 30, &seconds);
  EXPECT_TRUE(said) << out;
  EXPECT_NE(code, 0);
  EXPECT_NE(code, -1) << "launcher did not exit";
  EXPECT_FALSE(AnyProcessWithMarker(marker));
}

TEST(LauncherTest, CtrlCStopsEveryRank) {
  const std::string marker = "318.5";
  auto child = Spawn({kLoom, "launch", "--nproc", "2", "--", "/bin/sleep", marker});
  ASSERT_EQ(WaitForRanks(child.pid, 2).size(), 2u);
  ::kill(child.pid, SIGINT);
  double seconds = 0;
  EXPECT_EQ(WaitExit(child, 20, &seconds), 130);
  EXPECT_LT(seconds, 10.0);
  EXPECT_FALSE(AnyProcessWithMarker("sleep " + marker));
}

TEST(LauncherTest, MissingProgramFailsClearly) {
  auto child = Spawn({kLoom, "launch", "--nproc", "2", "--", "/nonexistent/program"});
  std::string out;
  ReadUntil(child, "", 20, &out);
  EXPECT_EQ(WaitExit(child, 20), 127);
  EXPECT_NE(out.find("cannot run '/nonexistent/program'"), std::string::npos) << out;
}

}  // namespace
}  // namespace loom::testing
