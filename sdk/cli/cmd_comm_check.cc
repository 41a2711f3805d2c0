// `loom comm-check`: every collective on the current world, checked and timed.
#include <iostream>

#include <ATen/ATen.h>
#include <CLI/CLI.hpp>

#include "ops/base/error.h"
#include "sdk/cli/commands.h"
#include "sdk/diagnostics/comm_check.h"
#include "sdk/runtime/heartbeat.h"
#include "sdk/runtime/world.h"

namespace loom::cli {

void AddCommCheckCommand(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand(
      "comm-check", "Run every collective on the current world, check results, print bytes/s");
  auto options = std::make_shared<diagnostics::CommCheckOptions>();
  auto dtype = std::make_shared<std::string>("fp32");
  auto timeout_s = std::make_shared<double>(60);
  cmd->add_option("--bytes", options->bytes, "Per-rank input bytes of each op");
  cmd->add_option("--iters", options->iters, "Timed iterations per op");
  cmd->add_option("--duration", options->duration_s, "Repeat the suite for this many seconds");
  cmd->add_option("--dtype", *dtype, "fp32 or bf16")->check(CLI::IsMember({"fp32", "bf16"}));
  cmd->add_option("--timeout", *timeout_s, "Collective timeout in seconds");
  auto backend = std::make_shared<std::string>("gloo");
  cmd->add_option("--backend", *backend, "gloo (CPU tensors) or nccl (each rank's GPU, cuda:LOCAL_RANK; a CUDA build)")
      ->check(CLI::IsMember({"gloo", "nccl"}));
  cmd->callback([=] {
    options->dtype = *dtype == "bf16" ? at::kBFloat16 : at::kFloat;
    auto heartbeat = runtime::Heartbeat::StartFromEnv();
    const auto info = runtime::WorldInfoFromEnv();
    comm::CommOptions comm_options;
    comm_options.timeout = std::chrono::milliseconds(static_cast<int64_t>(*timeout_s * 1000));
    if (*backend == "nccl") {
      comm_options.backend = comm::BackendKind::kNccl;
      comm_options.device = at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(info.local_rank));
    }
    auto world = runtime::JoinWorld(info, comm_options);
    auto results = diagnostics::RunCommCheck(*world, *options);
    int wrong = 0;
    for (const auto& r : results) {
      if (!r.ok) {
        ++wrong;
        std::cerr << "comm-check: " << r.op << " WRONG on rank " << world->rank() << ": "
                  << r.error << "\n";
      }
    }
    // Every rank learns whether any rank saw a wrong result.
    const int total_wrong = static_cast<int>(comm::AllReduceSum(*world, wrong));
    if (world->rank() == 0) {
      std::cout << "comm-check: " << world->size() << " ranks, backend " << *backend << ", dtype " << *dtype
                << "\n";
      diagnostics::PrintCommCheck(std::cout, results);
      std::cout << (total_wrong == 0 ? "comm-check: all ops correct\n"
                                     : "comm-check: FAILED: " + std::to_string(total_wrong) +
                                           " wrong results across ranks\n");
    }
    world->Barrier()->Wait();
    *exit_code = total_wrong == 0 ? 0 : 1;
  });
}

LOOM_REGISTER_COMMAND(90, AddCommCheckCommand);

}  // namespace loom::cli
