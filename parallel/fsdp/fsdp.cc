#include "parallel/fsdp/fsdp.h"

#include <algorithm>
#include <functional>
#include <map>

#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <c10/core/CPUAllocator.h>
#include <torch/csrc/autograd/engine.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/csrc/autograd/variable.h>

#include "models/core/parameter_source.h"
#include "ops/base/error.h"

namespace loom::parallel {

struct FsdpModel::Unit {
  std::string name;
  models::Module* module = nullptr;  // null for the root (hooked on the model)
  bool decay = true;                 // parameters with dim >= 2 (weight decay applies)
  bool expert = false;               // stacked expert weights: this ep rank's experts, over expert_fsdp
  bool frozen = false;               // requires_grad false (e.g. a fixed position table): gathered, never reduced or updated
  std::vector<std::string> names;
  std::vector<at::Tensor> params;    // the module's own parameter handles
  std::vector<int64_t> offsets, numels;
  std::vector<std::vector<int64_t>> shapes;  // of this rank's part (experts: E/ep of dim 0)
  std::vector<int64_t> begins;   // where that part starts in the flattened full parameter
  int64_t numel = 0, padded = 0;
  at::Tensor shard;  // (padded / N) fp32 leaf on the shard device: what the optimizer updates
  at::Tensor full;   // (padded) gathered buffer, param_dtype on the compute device; storage freed between uses
  int pending = 0;   // parameter gradients still to arrive in this backward
  bool forwarded = false;  // a forward with grad mode ran since its last reduce-scatter
  bool ready = false;      // gradients complete, reduce-scatter not yet issued
  comm::CommunicatorPtr comm;     // all-gathers
  comm::CommunicatorPtr rs_comm;  // reduce-scatters: same ranks, its own order (see InstallHooks)
  const FsdpOptions* options = nullptr;
  FsdpStats* stats = nullptr;

  // The all-gather in flight (at most one), its input and output kept alive until Wait.
  enum class InFlight { kNone, kGather, kRegather };
  InFlight in_flight = InFlight::kNone;
  comm::WorkPtr work;
  at::Tensor work_in, work_out;

  at::TensorOptions ComputeOptions(at::ScalarType dtype) const {
    return at::TensorOptions().dtype(dtype).device(options->device);
  }
  // The shard as the all-gather's input: param_dtype on the compute device.
  // With offload this is always a separate copy (host -> device).
  at::Tensor StagedShard() {
    auto s = shard.detach();
    if (!options->offload) return s.to(options->device, options->param_dtype);
    auto staged = s.to(options->device, options->param_dtype, /*non_blocking=*/true, /*copy=*/true);
    stats->bytes_to_device += staged.numel() * staged.element_size();
    return staged;
  }
  void Wait() {
    if (in_flight == InFlight::kNone) return;
    work->Wait();
    work.reset(), work_in.reset(), work_out.reset();
    in_flight = InFlight::kNone;
  }
  bool Freed() const { return full.storage().nbytes() == 0; }

  // Forward: issues the all-gather into a new buffer.
  void StartGather() {
    Wait();  // a re-gather whose backward never came: finish it, then drop it
    full = at::empty({padded}, ComputeOptions(options->param_dtype));
    work_in = StagedShard();
    work_out = full;
    work = comm->AllGather(work_out, work_in);
    in_flight = InFlight::kGather;
    stats->bytes_gathered += padded * full.element_size();
  }
  void BeginForward() {
    if (in_flight == InFlight::kGather) {
      ++stats->gathers_prefetched;
      return;
    }
    ++stats->gathers_on_demand;
    StartGather();
  }
  // Waits for the gathered buffer and points every parameter at its slice.
  void FinishForward() {
    Wait();
    for (size_t i = 0; i < params.size(); ++i) {
      params[i].set_data(full.slice(0, offsets[i], offsets[i] + numels[i]).view(shapes[i]));
    }
    pending = static_cast<int>(params.size());
    if (at::GradMode::is_enabled()) forwarded = true;
  }
  // Releases the buffer's memory; autograd's saved views keep the (empty) storage.
  void Free() {
    auto* impl = full.storage().unsafeGetStorageImpl();
    impl->set_data_ptr_noswap(at::DataPtr(nullptr, full.device()));
    impl->set_nbytes(0);
  }
  // Backward: refills the same storage (saved tensors see it again) through
  // an alias with its own version counter, so autograd accepts the saved views.
  void StartRegather() {
    auto* impl = full.storage().unsafeGetStorageImpl();
    const size_t nbytes = static_cast<size_t>(padded) * full.element_size();
    impl->set_data_ptr_noswap(c10::GetAllocator(full.device().type())->allocate(nbytes));
    impl->set_nbytes(nbytes);
    work_out = at::empty({0}, full.options()).set_(full.storage(), 0, {padded}, {1});
    work_in = StagedShard();
    work = comm->AllGather(work_out, work_in);
    in_flight = InFlight::kRegather;
    stats->bytes_gathered += static_cast<int64_t>(nbytes);
  }
  void PrefetchRegather() {
    if (in_flight == InFlight::kNone && Freed()) StartRegather();
  }
  void BeginBackward() {
    if (in_flight == InFlight::kRegather) {
      ++stats->regathers_prefetched;
    } else if (Freed()) {
      ++stats->regathers_on_demand;
      StartRegather();
    }
  }
  // Flattens the full gradients (reduce_dtype), issues their reduce-scatter
  // and frees the gathered buffer; FinishReduceScatter accumulates the result.
  void StartReduceScatter() {
    auto flat = at::zeros({padded}, ComputeOptions(options->reduce_dtype));
    for (size_t i = 0; i < params.size(); ++i) {
      auto& g = params[i].mutable_grad();
      if (g.defined()) flat.slice(0, offsets[i], offsets[i] + numels[i]).copy_(g.reshape({-1}));
      g = at::Tensor();
    }
    rs_out = at::empty({padded / comm->size()}, flat.options());
    rs_in = flat;
    rs_work = rs_comm->ReduceScatter(rs_out, rs_in);
    stats->bytes_reduced += padded * flat.element_size();
    Free();
  }
  // Waits for the reduce-scatter and accumulates it into the fp32 shard's .grad.
  void FinishReduceScatter() {
    if (!rs_work) return;
    rs_work->Wait();
    at::Tensor out = rs_out;
    rs_work.reset(), rs_in.reset(), rs_out.reset();
    if (options->offload) {
      out = out.to(shard.device(), at::kFloat, /*non_blocking=*/false, /*copy=*/true);
      stats->bytes_to_host += out.numel() * out.element_size();
    } else {
      out = out.to(shard.device(), at::kFloat);
    }
    auto& sg = shard.mutable_grad();
    if (sg.defined()) sg.add_(out); else sg = out;
  }
  comm::WorkPtr rs_work;  // the reduce-scatter in flight, its input and output
  at::Tensor rs_in, rs_out;
};

// The units gathered together: the root's (on the model's forward) or one
// group of unit modules' (matrices and vectors).
struct FsdpModel::Block {
  models::Module* module = nullptr;  // its first unit module (pre-hook: gather); null for the root
  models::Module* last = nullptr;    // its last unit module (post-hook: free, hook the backward)
  std::vector<Unit*> units;
  bool regather_wanted = false;  // freed after forward; its backward will re-gather
};

namespace {

// Post-accumulate-grad hook: tells the unit one more parameter is complete.
struct GradArrived : torch::autograd::PostAccumulateGradHook {
  GradArrived(FsdpModel::Unit* unit, std::function<void(FsdpModel::Unit*)> complete)
      : unit_(unit), complete_(std::move(complete)) {}
  void operator()(const torch::autograd::Variable& /*param*/) override {
    if (--unit_->pending == 0) complete_(unit_);
  }
  FsdpModel::Unit* unit_;
  std::function<void(FsdpModel::Unit*)> complete_;
};

}  // namespace

FsdpModel::FsdpModel(std::shared_ptr<models::TrainableModel> model, const ProcessGroups& groups, FsdpOptions options,
                     models::ParameterSource* source)
    : model_(std::move(model)), groups_(groups), options_(options) {
  for (auto [dtype, key] : {std::pair{options_.param_dtype, "param_dtype"}, {options_.reduce_dtype, "reduce_dtype"}}) {
    if (dtype != at::kFloat && dtype != at::kBFloat16) {
      throw ConfigError(ErrorWithFix(std::string("FSDP ") + key + " " + c10::toString(dtype) + " is not supported",
                                     "use fp32 or bf16"));
    }
  }
  if (options_.layers_per_unit < 1) {
    throw ConfigError(ErrorWithFix("FSDP layers_per_unit " + std::to_string(options_.layers_per_unit) +
                                       " is not positive",
                                   "set parallel.fsdp_layers_per_unit to 1 or more"));
  }
  // Reduce-scatters run on communicators of their own (same ranks): a
  // reduce-scatter deferred on one rank (a gradient that never came is
  // flushed when the backward ends) must not reorder against the
  // re-gathers the backward keeps issuing; within each communicator the
  // order is then the same on every rank. BuildProcessGroups makes them.
  if (!groups_.fsdp_reduce || (groups_.ep && groups_.ep->size() > 1 && !groups_.expert_fsdp_reduce)) {
    throw Error("FSDP: the process groups have no fsdp_reduce / expert_fsdp_reduce communicators; "
                "build them with parallel::BuildProcessGroups");
  }
  fsdp_reduce_ = groups_.fsdp_reduce;
  expert_reduce_ = groups_.expert_fsdp_reduce;
  FindComponent();
  GroupIntoUnits();
  LayOutShards();
  FillShards(source);
  InstallHooks();
}

void FsdpModel::FindComponent() {
  root_ = model_.get();
  spec_ = model_->plan_spec();
  prefix_.clear();
  if (options_.module_path.empty()) return;
  std::string known;
  bool found = false;
  for (const auto& c : model_->component_specs()) {
    known += (known.empty() ? "" : ", ") + c.module_path;
    if (c.module_path == options_.module_path) spec_ = c.spec, found = true;
  }
  for (const auto& m : model_->named_modules("", /*include_self=*/false)) {
    if (m.key() == options_.module_path) root_ = dynamic_cast<models::Module*>(m.value().get());
  }
  if (!found || !root_ || root_ == model_.get()) {
    throw ConfigError(ErrorWithFix("FSDP: '" + options_.module_path + "' is not a component of the " +
                                       model_->family() + " model",
                                   "use one of its components: " + known));
  }
  prefix_ = options_.module_path + ".";
}

std::vector<std::pair<std::string, at::Tensor>> FsdpModel::NamedParameters() const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& p : root_->named_parameters()) out.emplace_back(prefix_ + p.key(), p.value());
  return out;
}

void FsdpModel::GroupIntoUnits() {
  const models::PlanSpec& spec = spec_;
  // Parameter name of each tensor, and which unit owns it (root by default).
  std::map<const void*, std::string> name_of;
  for (const auto& [name, p] : NamedParameters()) name_of[p.unsafeGetTensorImpl()] = name;
  // The unit modules the spec names, in registration (= forward) order.
  std::vector<std::pair<std::string, models::Module*>> unit_modules;
  for (const auto& m : root_->named_modules("", /*include_self=*/false)) {
    const std::string path = prefix_ + m.key();
    if (!models::MatchesPattern(spec.fsdp_unit_pattern, path)) continue;
    auto* module = dynamic_cast<models::Module*>(m.value().get());
    if (!module) {
      throw Error("FSDP: unit '" + path + "' (PlanSpec fsdp_unit_pattern '" + spec.fsdp_unit_pattern +
                  "') is not a loom::models::Module, so it has no hook points; derive it from models::Module");
    }
    unit_modules.emplace_back(path, module);
  }
  // Owners: the root and each group of layers_per_unit consecutive unit
  // modules, in forward order. Each owner's parameters form two units,
  // matrices (weight decay) and vectors (no decay), so the optimizer can
  // treat the flat shards as AdamW param groups.
  const size_t per_unit = static_cast<size_t>(options_.layers_per_unit);
  blocks_.push_back(std::make_unique<Block>());  // the root
  std::vector<std::string> owner_names{"root"};
  std::map<const void*, size_t> owner_of;
  for (size_t i = 0; i < unit_modules.size(); ++i) {
    if (i % per_unit == 0) {
      blocks_.push_back(std::make_unique<Block>());
      blocks_.back()->module = unit_modules[i].second;
      const size_t last = std::min(unit_modules.size(), i + per_unit) - 1;
      const std::string& last_name = unit_modules[last].first;
      owner_names.push_back(unit_modules[i].first +
                            (last > i ? "-" + last_name.substr(last_name.rfind('.') + 1) : ""));
    }
    blocks_.back()->last = unit_modules[i].second;
    for (auto& p : unit_modules[i].second->parameters()) owner_of[p.unsafeGetTensorImpl()] = blocks_.size() - 1;
  }
  // With expert parallelism, each block's stacked expert weights (the
  // spec's expert_param_pattern) form a third unit: only this ep rank's
  // experts, sharded over expert_fsdp.
  const bool expert_parallel = groups_.ep && groups_.ep->size() > 1;
  std::map<std::pair<size_t, int>, Unit*> unit_of;
  for (auto& [param_name, p] : NamedParameters()) {
    const void* key = p.unsafeGetTensorImpl();
    const size_t o = owner_of.count(key) ? owner_of[key] : 0;
    const bool decay = p.dim() >= 2;
    const bool expert = expert_parallel && models::MatchesPattern(spec.expert_param_pattern, name_of[key]);
    const bool frozen = !p.requires_grad();
    Unit*& u = unit_of[{o, frozen ? 3 : expert ? 2 : static_cast<int>(decay)}];
    if (!u) {
      units_.push_back(std::make_unique<Unit>());
      u = units_.back().get();
      u->module = blocks_[o]->module;
      u->decay = decay;
      u->expert = expert;
      u->frozen = frozen;
      u->name = owner_names[o] + (frozen ? "/frozen" : expert ? "/experts" : decay ? "/matrices" : "/vectors");
      blocks_[o]->units.push_back(u);
    }
    u->params.push_back(p);
    u->names.push_back(name_of[key]);
  }
  // One reduce order for every rank: the backward's (blocks in reverse), the root last.
  // Frozen units get no gradients and are never reduced.
  for (size_t b = blocks_.size(); b-- > 1;) {
    for (auto* u : blocks_[b]->units) {
      if (!u->frozen) reduce_order_.push_back(u);
    }
  }
  for (auto* u : blocks_[0]->units) {
    if (!u->frozen) reduce_order_.push_back(u);
  }
}

void FsdpModel::LayOutShards() {
  // Per unit, its parameters' slices (all of each, or this ep rank's
  // experts) laid end to end, padded to a multiple of the group size.
  for (auto& u : units_) {
    u->comm = u->expert ? groups_.expert_fsdp : groups_.fsdp;
    u->rs_comm = u->expert ? expert_reduce_ : fsdp_reduce_;
    u->options = &options_;
    u->stats = &stats_;
    for (auto& p : u->params) {
      std::vector<int64_t> shape = p.sizes().vec();
      int64_t numel = p.numel(), begin = 0;  // the slice's size and start in the flattened full parameter
      if (u->expert) {
        const int64_t experts = shape[0], ep = groups_.ep->size();
        if (experts % ep != 0) {
          throw ConfigError(ErrorWithFix(u->name + ": " + std::to_string(experts) + " experts do not split over ep " +
                                             std::to_string(ep),
                                         "choose parallel.ep dividing model.num_experts"));
        }
        shape[0] = experts / ep;
        numel /= ep;
        begin = groups_.ep->rank() * numel;
      }
      u->offsets.push_back(u->numel);
      u->numels.push_back(numel);
      u->shapes.push_back(shape);
      u->begins.push_back(begin);
      u->numel += numel;
    }
    const int n = u->comm->size();
    u->padded = (u->numel + n - 1) / n * n;
    u->full = at::empty({0}, u->ComputeOptions(options_.param_dtype));
  }
}

void FsdpModel::FillShards(models::ParameterSource* source) {
  // Checked before any parameter changes, so a refused model is left as it was.
  const auto named = NamedParameters();
  for (const auto& [name, param] : named) {
    if (!source && param.is_meta()) {
      throw Error("FSDP: parameter '" + name + "' is on the meta device and no ParameterSource was given; "
                  "pass one (models/llm/weight_sources.h) or build the model on a real device");
    }
  }
  // Per parameter in named_parameters() order (a ParameterSource's
  // contract), the part of it in this rank's shard, from `source` or from the
  // parameter itself; then its full storage is released at once, so sharding
  // needs no full-unit temporaries. With a source the model may be on the
  // meta device and is never materialised (peak: the shards + what the source
  // holds for one parameter); without one, the peak is about the model + a
  // layer's shards.
  std::map<const void*, std::pair<Unit*, size_t>> slot_of;
  for (auto& u : units_) {
    for (size_t i = 0; i < u->params.size(); ++i) slot_of[u->params[i].unsafeGetTensorImpl()] = {u.get(), i};
  }
  torch::NoGradGuard no_grad;
  for (const auto& [name, param] : named) {
    at::Tensor p = param;
    auto [u, i] = slot_of.at(p.unsafeGetTensorImpl());
    // Allocated at its first parameter (a materialised model's released
    // parameters make room for it). Padding stays zero.
    if (!u->shard.defined()) u->shard = at::zeros({u->padded / u->comm->size()}, at::kFloat);
    const int64_t s = u->shard.numel(), lo = u->comm->rank() * s;
    const int64_t a = std::max(lo, u->offsets[i]), b = std::max(a, std::min(lo + s, u->offsets[i] + u->numels[i]));
    auto dst = u->shard.slice(0, a - lo, b - lo);
    const int64_t begin = u->begins[i] + (b > a ? a - u->offsets[i] : 0);
    if (source) {
      source->Fill(name, p.sizes(), begin, dst);
    } else {
      dst.copy_(p.view({-1}).slice(0, begin, begin + dst.numel()));
    }
    models::RebindParameter(p, at::empty({0}, at::kFloat));  // the full copy is gone; Gather brings it back
    torch::autograd::impl::set_post_acc_grad_hooks(
        p, std::make_unique<GradArrived>(u, [this](Unit* unit) { GradientsComplete(unit); }));
  }
  const at::Device shard_device = ShardDevice();
  const bool pin = options_.offload && at::globalContext().hasCUDA();
  for (auto& u : units_) {
    if (u->shard.device() != shard_device) u->shard = u->shard.to(shard_device);
    if (pin) u->shard = u->shard.pin_memory();
    u->shard.set_requires_grad(!u->frozen);
  }
}

void FsdpModel::InstallHooks() {
  // Hooks per block. Every rank runs the same forwards and backwards, so the
  // order of the collectives below (own gather, then the prefetch of the
  // neighbour) is the same on every rank.
  for (size_t b = 0; b < blocks_.size(); ++b) {
    Block* block = blocks_[b].get();
    Block* next = b + 1 < blocks_.size() ? blocks_[b + 1].get() : nullptr;
    Block* prev = b >= 2 ? blocks_[b - 1].get() : nullptr;  // the root (b = 0) is never freed after forward
    const bool prefetch = options_.prefetch;
    auto pre = [block, next, prefetch](models::Module&) {
      for (auto* u : block->units) u->BeginForward();
      if (prefetch && next) {
        for (auto* u : next->units) {
          if (u->in_flight != Unit::InFlight::kGather) u->StartGather();
        }
      }
      for (auto* u : block->units) u->FinishForward();
    };
    if (!block->module) {
      hooks_.emplace_back(root_, root_->AddPreHook(pre));
      continue;
    }
    hooks_.emplace_back(block->module, block->module->AddPreHook(pre));
    if (!options_.reshard_after_forward) continue;
    hooks_.emplace_back(block->last, block->last->AddPostHook([this, block, prev, prefetch](models::Module&,
                                                                                         const at::Tensor& out) {
      for (auto* u : block->units) u->Free();
      block->regather_wanted = false;
      if (!out.requires_grad()) return out;
      block->regather_wanted = true;
      // Runs when the gradient w.r.t. this block's output is ready: before
      // its own backward, which needs its parameters again.
      out.register_hook([this, block, prev, prefetch](const at::Tensor& grad) {
        QueueFinishBackward();
        for (auto* u : block->units) u->BeginBackward();
        block->regather_wanted = false;
        if (prefetch && prev && prev->regather_wanted) {
          for (auto* u : prev->units) u->PrefetchRegather();
        }
        for (auto* u : block->units) u->Wait();
        return grad;
      });
      return out;
    }));
  }
}

void FsdpModel::GradientsComplete(Unit* unit) {
  unit->ready = true;
  QueueFinishBackward();
  IssueReduceScatters(/*flush=*/false);
}

void FsdpModel::QueueFinishBackward() {
  if (finish_queued_) return;  // once per backward: the rest complete when it ends
  finish_queued_ = true;
  torch::autograd::Engine::get_default_engine().queue_callback([this] { FinishBackward(); });
}

void FsdpModel::IssueReduceScatters(bool flush) {
  while (next_reduce_ < reduce_order_.size()) {
    Unit* u = reduce_order_[next_reduce_];
    if (!u->ready && !(flush && u->forwarded)) {
      if (!flush) break;  // later units wait for this one: the order is the same on every rank
      ++next_reduce_;     // no forward ran through it: nothing to reduce
      continue;
    }
    u->StartReduceScatter();  // gradients that never came are zeros
    u->ready = false, u->forwarded = false, u->pending = 0;
    if (!reducing_.empty()) ++stats_.reduces_overlapped;
    reducing_.push_back(u);
    ++next_reduce_;
    // At most two reduce-scatters in flight (bounds the flat gradient buffers).
    while (reducing_.size() > 2) {
      reducing_.front()->FinishReduceScatter();
      reducing_.pop_front();
    }
  }
  if (flush) next_reduce_ = 0;
}

void FsdpModel::FinishBackward() {
  finish_queued_ = false;
  IssueReduceScatters(/*flush=*/true);
  DrainReduceScatters();
}

void FsdpModel::DrainReduceScatters() {
  while (!reducing_.empty()) {
    reducing_.front()->FinishReduceScatter();
    reducing_.pop_front();
  }
}

FsdpModel::~FsdpModel() {
  for (auto& u : units_) {
    try {
      u->Wait();
      u->FinishReduceScatter();
    } catch (...) {  // a failed collective was already reported where it mattered
    }
    for (auto& p : u->params) torch::autograd::impl::set_post_acc_grad_hooks(p, nullptr);
  }
  for (auto& [module, id] : hooks_) module->RemoveHook(id);
}

at::Device FsdpModel::ShardDevice() const { return options_.offload ? at::Device(at::kCPU) : options_.device; }

std::vector<at::Tensor> FsdpModel::ShardParameters(bool decay) const {
  std::vector<at::Tensor> shards;
  for (const auto& u : units_) {
    if (u->decay == decay && !u->frozen) shards.push_back(u->shard);
  }
  return shards;
}

void FsdpModel::FinishGradients() {
  DrainReduceScatters();
  if (!groups_.dp_replicate || groups_.dp_replicate->size() == 1) return;
  // HSDP: sum shard gradients across replicas, in reduce_dtype on the
  // compute device (staged when offloaded or narrower), all issued before
  // the first wait.
  std::vector<std::pair<at::Tensor, at::Tensor>> pending;  // (shard grad, what is all-reduced)
  std::vector<comm::WorkPtr> works;
  for (auto& u : units_) {
    if (!u->shard.grad().defined()) continue;
    auto& g = u->shard.mutable_grad();
    const bool in_place = g.device() == options_.device && g.scalar_type() == options_.reduce_dtype;
    at::Tensor reduced = in_place ? g : g.to(options_.device, options_.reduce_dtype, false, /*copy=*/true);
    stats_.bytes_replica_reduced += reduced.numel() * reduced.element_size();
    works.push_back(groups_.dp_replicate->AllReduce(reduced));
    pending.emplace_back(g, reduced);
  }
  for (size_t i = 0; i < works.size(); ++i) {
    works[i]->Wait();
    if (!pending[i].first.is_same(pending[i].second)) pending[i].first.copy_(pending[i].second);
  }
}

double FsdpModel::GradSquaredSum() {
  DrainReduceScatters();
  auto sumsq = at::zeros({1}, at::TensorOptions().dtype(at::kDouble).device(ShardDevice()));
  for (auto& u : units_) {
    if (u->shard.grad().defined()) sumsq += u->shard.grad().to(at::kDouble).pow(2).sum();
  }
  sumsq = sumsq.to(options_.device);
  groups_.fsdp->AllReduce(sumsq)->Wait();
  return sumsq.item<double>();
}

void FsdpModel::ScaleGradients(double coef) {
  for (auto& u : units_) {
    if (u->shard.grad().defined()) u->shard.mutable_grad().mul_(coef);
  }
}

double FsdpModel::ClipGradNorm(double max_norm) {
  const double norm = std::sqrt(GradSquaredSum());
  if (max_norm > 0) ScaleGradients(std::min(1.0, max_norm / (norm + 1e-6)));
  return norm;
}

std::vector<std::pair<std::string, at::Tensor>> FsdpModel::GatherFullState(bool rank0_only) {
  DrainReduceScatters();
  // Every rank takes part in every gather; with rank0_only the others drop
  // each unit at once, so their peak is one gathered unit, not the model.
  const bool keep = !rank0_only || !groups_.world || groups_.world->rank() == 0;
  std::vector<std::pair<std::string, at::Tensor>> state;
  for (auto& u : units_) {
    auto full = comm::AllGatherDim0(*u->comm, u->shard.detach().to(options_.device));
    for (size_t i = 0; i < u->params.size(); ++i) {
      auto t = full.slice(0, u->offsets[i], u->offsets[i] + u->numels[i]).view(u->shapes[i]);
      if (u->expert) t = comm::AllGatherDim0(*groups_.ep, t.contiguous());  // every ep rank's experts, in order
      if (keep) state.emplace_back(u->names[i], t.clone());
    }
  }
  return state;
}

std::vector<FsdpModel::UnitView> FsdpModel::Units() const {
  std::vector<UnitView> out;
  for (const auto& u : units_) {
    UnitView v{u->name, u->numel, u->padded, u->comm->rank(), u->comm->size(), u->shard, {}};
    for (size_t i = 0; i < u->names.size(); ++i) {
      auto shape = u->shapes[i];
      if (u->expert) shape[0] *= groups_.ep->size();  // the full parameter's experts
      v.members.push_back({u->names[i], shape, u->offsets[i], u->numels[i], u->begins[i]});
    }
    out.push_back(std::move(v));
  }
  return out;
}

int64_t FsdpModel::ShardBytes() const {
  int64_t bytes = 0;
  for (const auto& u : units_) bytes += u->shard.numel() * u->shard.element_size();
  return bytes;
}

}  // namespace loom::parallel
