// Trainer::SaveCheckpoint / ResumeFrom: the run's state as slices of the
// flattened full parameters (sdk/checkpoint/checkpoint.h), so a checkpoint
// taken under one layout resumes under any other.
#include <filesystem>

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

void Barrier(const Trainer::Impl& t) {
  if (t.distributed()) comm::AllReduceSum(*t.world, 0.0);
}

}  // namespace

std::string Trainer::CheckpointRoot() const {
  const auto& run = impl_->cfg.run;
  return (fs::path(run.dir) / run.name / "checkpoints").string();
}

std::string Trainer::SaveCheckpoint() {
  Impl& t = *impl_;
  const int rank = t.distributed() ? t.world->rank() : 0;
  const int world = t.distributed() ? t.world->size() : 1;
  std::vector<checkpoint::Piece> pieces;
  int64_t adam_step = 0;
  for (const auto& s : SlotsOf(t)) {
    if (!s.write) continue;
    pieces.push_back({"param", s.param, s.begin, Flat(s.holder, s).clone()});
    if (const auto* st = AdamState(*t.optimizer, s.holder)) {
      pieces.push_back({"exp_avg", s.param, s.begin, Flat(st->exp_avg(), s).clone()});
      pieces.push_back({"exp_avg_sq", s.param, s.begin, Flat(st->exp_avg_sq(), s).clone()});
      adam_step = std::max<int64_t>(adam_step, st->step());
    }
  }
  const std::string root = CheckpointRoot();
  checkpoint::WriteRankFile(root, step_, rank, pieces, at::detail::getDefaultCPUGenerator().get_state());
  Barrier(t);  // every rank's file is on disk
  std::string dir = (fs::path(root) / checkpoint::StepDirName(step_)).string();
  if (t.leader) {
    checkpoint::Meta meta;
    meta.step = step_;
    meta.world = world;
    meta.data_position = t.GlobalRows();
    meta.adam_step = adam_step;
    meta.run_id = result_.run_id;
    meta.family = t.model->family();
    meta.num_parameters = t.model->NumParameters();
    meta.params = FullShapes(t);
    dir = checkpoint::Commit(root, meta, static_cast<int>(t.cfg.train.checkpoint_keep));
  }
  Barrier(t);  // committed before anyone goes on (a resume may follow at once)
  Emit(step_, "checkpoint", dir);
  return dir;
}

void Trainer::ResumeFrom(const std::string& where) {
  Impl& t = *impl_;
  const std::string dir = checkpoint::Resolve(where, CheckpointRoot());
  const auto reader = checkpoint::Reader::Open(dir);
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
  for (const auto& s : SlotsOf(t)) {
    reader.Fill("param", s.param, s.begin, s.holder.detach().view({-1}).slice(0, s.offset, s.offset + s.numel));
    if (!with_adam || !reader.Has("exp_avg", s.param)) continue;
    auto& m = moments[s.holder.unsafeGetTensorImpl()];
    if (!m.first.defined()) m = {at::zeros_like(s.holder), at::zeros_like(s.holder)};
    reader.Fill("exp_avg", s.param, s.begin, m.first.view({-1}).slice(0, s.offset, s.offset + s.numel));
    reader.Fill("exp_avg_sq", s.param, s.begin, m.second.view({-1}).slice(0, s.offset, s.offset + s.numel));
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
  Emit(meta.step, "resumed", dir + " (saved by run " + std::to_string(meta.run_id) + " on " +
                                 std::to_string(meta.world) + " rank(s))");
  Log("loom train: resumed from " + dir + " at step " + std::to_string(meta.step));
  step_ = meta.step;
}

}  // namespace loom::train
