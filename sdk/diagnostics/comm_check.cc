#include "sdk/diagnostics/comm_check.h"

#include <chrono>
#include <cstdio>
#include <functional>
#include <numeric>

#include <ATen/ATen.h>

namespace loom::diagnostics {
namespace {

using Clock = std::chrono::steady_clock;

// Compares `got` with `want` exactly (both small integers or halves).
std::string Mismatch(const at::Tensor& got, const at::Tensor& want) {
  auto g = got.cpu().to(at::kDouble).reshape(-1);
  auto w = want.cpu().to(at::kDouble).reshape(-1);
  if (g.numel() != w.numel()) {
    return "size " + std::to_string(g.numel()) + ", expected " + std::to_string(w.numel());
  }
  auto bad = (g != w).nonzero();
  if (bad.numel() == 0) return "";
  const int64_t i = bad[0].item<int64_t>();
  return "element " + std::to_string(i) + " is " + std::to_string(g[i].item<double>()) +
         ", expected " + std::to_string(w[i].item<double>()) + " (" +
         std::to_string(bad.size(0)) + " wrong)";
}

struct Op {
  std::string name;
  int64_t bytes;
  // Runs the op once; returns "" or the mismatch. Adds the time spent in the
  // collective itself (not in filling or checking) to *seconds.
  std::function<std::string(double* seconds)> run;
};

// Times one collective call, including its Wait.
template <typename F>
void Timed(double* seconds, F&& f) {
  const auto t0 = Clock::now();
  f();
  *seconds += std::chrono::duration<double>(Clock::now() - t0).count();
}

std::vector<Op> MakeOps(comm::Communicator& comm, const CommCheckOptions& o) {
  const int64_t w = comm.size(), r = comm.rank();
  const auto dt = o.dtype;
  const auto on = at::TensorOptions().dtype(dt).device(comm.device());  // the inputs: where the backend wants them
  const int64_t esize = static_cast<int64_t>(c10::elementSize(dt));
  const int64_t n = std::max<int64_t>(w, (o.bytes / esize) / w * w);  // divisible by w
  const auto f = at::TensorOptions().dtype(at::kDouble);
  const auto idx = at::arange(n, f);
  std::vector<Op> ops;

  for (auto op : {comm::ReduceOp::kSum, comm::ReduceOp::kAvg, comm::ReduceOp::kMax}) {
    ops.push_back({std::string("all_reduce_") + comm::ReduceOpName(op), n * esize, [=, &comm](double* secs) {
      auto base = at::fmod(idx, 7);
      auto t = (base + r).to(on);
      Timed(secs, [&] { comm.AllReduce(t, {op})->Wait(); });
      at::Tensor want = op == comm::ReduceOp::kSum   ? base * w + w * (w - 1) / 2.0
                        : op == comm::ReduceOp::kAvg ? base + (w - 1) / 2.0
                                                     : base + (w - 1);
      return Mismatch(t, want);
    }});
  }
  ops.push_back({"all_gather", (n / w) * esize, [=, &comm](double* secs) {
    auto local = at::fmod(at::arange(n / w, f), 4);
    auto in = (local + 4 * r).to(on);
    auto out = at::empty({n}, in.options());
    Timed(secs, [&] { comm.AllGather(out, in)->Wait(); });
    auto want = at::cat(std::vector<at::Tensor>(static_cast<size_t>(w), local)) +
                4 * at::arange(w, f).repeat_interleave(n / w);
    return Mismatch(out, want);
  }});
  ops.push_back({"reduce_scatter", n * esize, [=, &comm](double* secs) {
    auto base = at::fmod(idx, 5);
    auto in = (base + r).to(on);
    auto out = at::empty({n / w}, in.options());
    Timed(secs, [&] { comm.ReduceScatter(out, in)->Wait(); });
    auto want = base.slice(0, r * (n / w), (r + 1) * (n / w)) * w + w * (w - 1) / 2.0;
    return Mismatch(out, want);
  }});
  ops.push_back({"all_to_all", n * esize, [=, &comm](double* secs) {
    // chunk q holds r*w + q; rank r receives q*w + r from q.
    auto in = (at::arange(w, f) + r * w).repeat_interleave(n / w).to(on);
    auto out = at::empty_like(in);
    Timed(secs, [&] { comm.AllToAll(out, in)->Wait(); });
    auto want = (at::arange(w, f) * w + r).repeat_interleave(n / w);
    return Mismatch(out, want);
  }});
  // Uneven: rank r sends ((r + 2q) % 3) * k + 1 rows to q (k rows ~ bytes/3w).
  const int64_t cols = 8, k = std::max<int64_t>(1, n / (3 * w * cols));
  const auto rows = [=](int64_t from, int64_t to) { return ((from + 2 * to) % 3) * k + 1; };
  int64_t uneven_rows = 0;
  for (int64_t q = 0; q < w; ++q) uneven_rows += rows(r, q);
  ops.push_back({"all_to_all_uneven", uneven_rows * cols * esize, [=, &comm](double* secs) {
    std::vector<int64_t> splits;
    std::vector<at::Tensor> parts, want;
    for (int64_t q = 0; q < w; ++q) {
      splits.push_back(rows(r, q));
      parts.push_back(at::full({rows(r, q), cols}, static_cast<double>(r * w + q), f));
      want.push_back(at::full({rows(q, r), cols}, static_cast<double>(q * w + r), f));
    }
    auto input = at::cat(parts).to(on);
    comm::AllToAllResult result;
    Timed(secs, [&] { result = comm::AllToAllExchange(comm, input, splits); });
    for (int64_t q = 0; q < w; ++q) {
      if (result.output_split_sizes[q] != rows(q, r)) {
        return "received " + std::to_string(result.output_split_sizes[q]) + " rows from rank " +
               std::to_string(q) + ", expected " + std::to_string(rows(q, r));
      }
    }
    return Mismatch(result.output, at::cat(want));
  }});
  ops.push_back({"broadcast", n * esize, [=, &comm](double* secs) {
    const int root = static_cast<int>(w - 1);
    auto want = at::fmod(idx, 9);
    auto t = (r == root ? want : at::full({n}, -1.0, f)).to(on);
    Timed(secs, [&] { comm.Broadcast(t, {root})->Wait(); });
    return Mismatch(t, want);
  }});
  ops.push_back({"barrier", 0, [&comm](double* secs) {
    Timed(secs, [&] { comm.Barrier()->Wait(); });
    return std::string();
  }});
  return ops;
}

}  // namespace

std::vector<CommCheckResult> RunCommCheck(comm::Communicator& comm,
                                          const CommCheckOptions& options) {
  auto ops = MakeOps(comm, options);
  std::vector<CommCheckResult> results(ops.size());
  const auto start = Clock::now();
  do {
    for (size_t i = 0; i < ops.size(); ++i) {
      CommCheckResult& res = results[i];
      res.op = ops[i].name;
      res.bytes = ops[i].bytes;
      double warmup = 0, dt = 0;
      std::string error = ops[i].run(&warmup);  // checked warm-up
      for (int it = 0; it < options.iters && error.empty(); ++it) error = ops[i].run(&dt);
      res.seconds = dt / std::max(1, options.iters);
      res.bytes_per_s = res.seconds > 0 ? static_cast<double>(res.bytes) / res.seconds : 0;
      if (!error.empty() && res.ok) res.ok = false, res.error = error;
    }
  } while (options.duration_s > 0 &&
           std::chrono::duration<double>(Clock::now() - start).count() < options.duration_s);
  return results;
}

void PrintCommCheck(std::ostream& out, const std::vector<CommCheckResult>& results) {
  char line[256];
  std::snprintf(line, sizeof(line), "%-20s %12s %12s %12s  %s\n", "op", "bytes", "time_us",
                "MB/s", "result");
  out << line;
  for (const auto& r : results) {
    std::snprintf(line, sizeof(line), "%-20s %12lld %12.1f %12.1f  %s\n", r.op.c_str(),
                  static_cast<long long>(r.bytes), r.seconds * 1e6, r.bytes_per_s / 1e6,
                  r.ok ? "ok" : ("WRONG: " + r.error).c_str());
    out << line;
  }
}

}  // namespace loom::diagnostics
