// Trainer::SaveCheckpoint / ResumeFrom: the run's state as slices of the
// flattened full parameters (sdk/checkpoint/checkpoint.h), so a checkpoint
// taken under one layout resumes under any other.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <future>
#include <tuple>

#include <ATen/ATen.h>
#include <torch/optim/adamw.h>

#include "ops/base/error.h"
#include "sdk/checkpoint/checkpoint.h"
#include "sdk/train/trainer_impl.h"

namespace loom::train {
namespace {

namespace fs = std::filesystem;

// One contiguous run of a parameter held by this rank: positions
// [begin, begin + numel) of the flattened full `param` live at
// [offset, offset + numel) of the flattened `holder` (an FSDP shard, or the
// parameter itself in one process), whose AdamW state is keyed by `holder`.
struct Slot {
  at::Tensor holder;
  std::string param;
  int64_t begin = 0, offset = 0, numel = 0;
  bool write = true;  // false on HSDP replicas after the first (the same values)
};

std::vector<Slot> SlotsOf(const Trainer::Impl& t) {
  std::vector<Slot> out;
  if (!t.distributed()) {
    for (const auto& p : t.model->named_parameters()) out.push_back({p.value(), p.key(), 0, 0, p.value().numel(), true});
    return out;
  }
  for (const auto& a : t.applied) {
    const bool first_replica = !a.groups.dp_replicate || a.groups.dp_replicate->rank() == 0;
    for (const auto& u : a.fsdp->Units()) {
      const int64_t size = u.padded / u.group_size, lo = u.group_rank * size;
      const bool expert = u.name.size() > 8 && u.name.compare(u.name.size() - 8, 8, "/experts") == 0;
      for (const auto& m : u.members) {
        const int64_t a0 = std::max(lo, m.offset), b0 = std::min(lo + size, m.offset + m.numel);
        if (b0 <= a0) continue;
        out.push_back({u.shard, m.name, m.begin + (a0 - m.offset), a0 - lo, b0 - a0, expert || first_replica});
      }
    }
  }
  return out;
}

// "this rank wrote 117.2 MB in 0.412 s (284.5 MB/s)", for the run store's events.
std::string RateLine(const std::string& verb, int64_t bytes, double seconds) {
  char buf[128];
  std::snprintf(buf, sizeof(buf), "this rank %s %.1f MB in %.3f s (%.1f MB/s)", verb.c_str(), bytes / 1e6, seconds,
                seconds > 0 ? bytes / 1e6 / seconds : 0.0);
  return buf;
}

const torch::optim::AdamWParamState* AdamState(const torch::optim::Optimizer& opt, const at::Tensor& holder) {
  auto it = opt.state().find(holder.unsafeGetTensorImpl());
  return it == opt.state().end() ? nullptr : static_cast<const torch::optim::AdamWParamState*>(it->second.get());
}

at::Tensor Flat(const at::Tensor& t, const Slot& s) { return t.detach().reshape({-1}).slice(0, s.offset, s.offset + s.numel); }

std::map<std::string, std::vector<int64_t>> FullShapes(const Trainer::Impl& t) {
  std::map<std::string, std::vector<int64_t>> out;
  if (!t.distributed()) {
    for (const auto& p : t.model->named_parameters()) out[p.key()] = p.value().sizes().vec();
    return out;
  }
  for (const auto& a : t.applied) {
    for (const auto& u : a.fsdp->Units()) {
      for (const auto& m : u.members) out[m.name] = m.shape;
    }
  }
  return out;
}

}  // namespace

std::string Trainer::CheckpointRoot() const { return CheckpointRootOf(impl_->cfg); }

void Trainer::BeginCheckpoint(bool async) {
  Impl& t = *impl_;
  CommitPending(/*block=*/true);  // one save in flight at a time
  const int rank = t.distributed() ? t.world->rank() : 0;
  // Staging: copies of this rank's slices, taken now (later steps update the originals).
  auto pieces = std::make_shared<std::vector<checkpoint::Piece>>();
  int64_t adam_step = 0;
  for (const auto& s : SlotsOf(t)) {
    if (!s.write) continue;
    pieces->push_back({"param", s.param, s.begin, Flat(s.holder, s).clone()});
    if (const auto* st = AdamState(*t.optimizer, s.holder)) {
      pieces->push_back({"exp_avg", s.param, s.begin, Flat(st->exp_avg(), s).clone()});
      pieces->push_back({"exp_avg_sq", s.param, s.begin, Flat(st->exp_avg_sq(), s).clone()});
      adam_step = std::max<int64_t>(adam_step, st->step());
    }
  }
  auto p = std::make_unique<Impl::PendingCheckpoint>();
  p->root = CheckpointRoot();
  auto& meta = p->meta;
  meta.step = step_;
  meta.world = t.distributed() ? t.world->size() : 1;
  meta.data_position = t.GlobalRows();
  meta.adam_step = adam_step;
  meta.run_id = result_.run_id;
  meta.family = t.model->family();
  meta.num_parameters = t.model->NumParameters();
  if (t.leader) {
    meta.params = FullShapes(t);
    meta.config_json = t.config_json;
  }
  const at::Tensor rng = at::detail::getDefaultCPUGenerator().get_state();
  auto write = [root = p->root, step = step_, rank, pieces, rng] {
    const auto t0 = std::chrono::steady_clock::now();
    const int64_t bytes = checkpoint::WriteRankFile(root, step, rank, *pieces, rng);
    return std::make_pair(bytes, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  };
  if (async) {
    p->write = std::async(std::launch::async, std::move(write));
  } else {
    try {
      std::tie(p->bytes, p->seconds) = write();
    } catch (const std::exception& e) {
      p->error = e.what();
    }
    p->written = true;
  }
  t.pending_checkpoint = std::move(p);
  t.last_checkpoint_step = step_;
}

std::string Trainer::CommitPending(bool block) {
  Impl& t = *impl_;
  if (!t.pending_checkpoint) return "";
  auto& p = *t.pending_checkpoint;
  if (!p.written && (block || p.write.wait_for(std::chrono::seconds(0)) == std::future_status::ready)) {
    try {
      std::tie(p.bytes, p.seconds) = p.write.get();
    } catch (const std::exception& e) {
      p.error = e.what();
    }
    p.written = true;
  }
  // Agreement: how many ranks are still writing, how many failed (one all-reduce).
  constexpr double kFailed = 65536;
  double state = (p.written ? 0.0 : 1.0) + (p.error.empty() ? 0.0 : kFailed);
  if (t.distributed()) state = comm::AllReduceSum(*t.world, state);
  const auto step = p.meta.step;
  const std::string fix = "free space under " + CheckpointRoot() + " or set run.dir to a writable disk";
  if (state >= kFailed) {
    const std::string own = p.error.empty() ? "" : ": " + p.error;
    t.pending_checkpoint.reset();
    throw Error(ErrorWithFix("the checkpoint of step " + std::to_string(step) + " failed on " +
                                 std::to_string(static_cast<int64_t>(state / kFailed)) + " rank(s)" + own,
                             fix));
  }
  if (state > 0) return "";  // still writing somewhere: try again at the next step boundary
  std::string dir, error;
  if (t.leader) {
    try {
      dir = checkpoint::Commit(p.root, p.meta, static_cast<int>(t.cfg.train.checkpoint_keep));
    } catch (const std::exception& e) {
      error = e.what();
    }
  }
  const std::string written = RateLine("wrote", p.bytes, p.seconds);
  t.pending_checkpoint.reset();
  // Committed (or not) on every rank before anyone goes on: a resume may follow at once.
  const double failed = t.Sum(error.empty() ? 0.0 : 1.0);
  if (failed > 0) {
    throw Error(ErrorWithFix("committing the checkpoint of step " + std::to_string(step) + " failed" +
                                 (error.empty() ? "" : ": " + error),
                             fix));
  }
  Emit(step, "checkpoint", dir + " (" + written + ")");
  return dir;
}

std::string Trainer::SaveCheckpoint() {
  BeginCheckpoint(/*async=*/false);
  return CommitPending(/*block=*/true);
}

void Trainer::WaitForCheckpoint() { CommitPending(/*block=*/true); }

void Trainer::ResumeFrom(const std::string& where) {
  LoadCheckpoint(checkpoint::Reader::Open(checkpoint::Resolve(where, CheckpointRoot())));
}

void Trainer::LoadCheckpoint(const checkpoint::Reader& reader) {
  Impl& t = *impl_;
  const auto t0 = std::chrono::steady_clock::now();
  const std::string& dir = reader.dir();
  const auto& meta = reader.meta();
  const std::string fix = "resume with the config that wrote " + dir + " (loom checkpoint inspect " + dir + ")";
  if (meta.family != t.model->family() || meta.num_parameters != t.model->NumParameters()) {
    throw ConfigError(ErrorWithFix(dir + " holds a " + meta.family + " model of " + std::to_string(meta.num_parameters) +
                                       " parameters, this run a " + t.model->family() + " of " +
                                       std::to_string(t.model->NumParameters()),
                                   fix));
  }
  for (const auto& [name, shape] : FullShapes(t)) {
    auto it = meta.params.find(name);
    if (it == meta.params.end() || it->second != shape) {
      throw ConfigError(ErrorWithFix(dir + ": parameter '" + name + "' is " +
                                         (it == meta.params.end() ? std::string("missing") : "of another shape"),
                                     fix));
    }
  }
  t.SeekGlobalRows(meta.data_position, dir);  // checked before anything changes
  torch::NoGradGuard no_grad;
  const bool with_adam = meta.adam_step > 0;
  std::map<at::TensorImpl*, std::pair<at::Tensor, at::Tensor>> moments;  // holder -> (exp_avg, exp_avg_sq)
  int64_t read_bytes = 0;  // fp32 values this rank read
  for (const auto& s : SlotsOf(t)) {
    reader.Fill("param", s.param, s.begin, s.holder.detach().view({-1}).slice(0, s.offset, s.offset + s.numel));
    read_bytes += s.numel * 4;
    if (!with_adam || !reader.Has("exp_avg", s.param)) continue;
    auto& m = moments[s.holder.unsafeGetTensorImpl()];
    if (!m.first.defined()) m = {at::zeros_like(s.holder), at::zeros_like(s.holder)};
    reader.Fill("exp_avg", s.param, s.begin, m.first.view({-1}).slice(0, s.offset, s.offset + s.numel));
    reader.Fill("exp_avg_sq", s.param, s.begin, m.second.view({-1}).slice(0, s.offset, s.offset + s.numel));
    read_bytes += 2 * s.numel * 4;
  }
  for (auto& group : t.optimizer->param_groups()) {
    for (auto& p : group.params()) {
      auto it = moments.find(p.unsafeGetTensorImpl());
      if (it == moments.end()) continue;
      auto st = std::make_unique<torch::optim::AdamWParamState>();
      st->exp_avg(it->second.first);
      st->exp_avg_sq(it->second.second);
      st->step(meta.adam_step);
      t.optimizer->state()[p.unsafeGetTensorImpl()] = std::move(st);
    }
  }
  const auto rng = reader.Rng(t.distributed() ? t.world->rank() : 0);
  if (rng.defined()) {
    at::Generator gen = at::detail::getDefaultCPUGenerator();
    gen.set_state(rng);
  }
  // Reported before the step moves on, so observers added later still get them.
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  Emit(meta.step, "resumed", dir + " (saved by run " + std::to_string(meta.run_id) + " on " +
                                 std::to_string(meta.world) + " rank(s); " + RateLine("read", read_bytes, seconds) + ")");
  Log("loom train: resumed from " + dir + " at step " + std::to_string(meta.step));
  step_ = meta.step;
  t.last_checkpoint_step = meta.step;
}

}  // namespace loom::train
