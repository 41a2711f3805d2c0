#include "parallel/fsdp/fsdp.h"

#include <map>

#include <ATen/ATen.h>
#include <c10/core/CPUAllocator.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>

#include "ops/base/error.h"

namespace loom::parallel {

struct FsdpModel::Unit {
  std::string name;
  models::Module* module = nullptr;  // null for the root (hooked on the model)
  bool decay = true;                 // parameters with dim >= 2 (weight decay applies)
  std::vector<std::string> names;
  std::vector<at::Tensor> params;    // the module's own parameter handles
  std::vector<int64_t> offsets, numels;
  std::vector<std::vector<int64_t>> shapes;
  int64_t numel = 0, padded = 0;
  at::Tensor shard;  // (padded / N) fp32 leaf: what the optimizer updates
  at::Tensor full;   // (padded) gathered buffer; storage freed between uses
  int pending = 0;   // parameter gradients still to arrive in this backward
  comm::CommunicatorPtr comm;

  // All-gathers into a new buffer and points every parameter at its slice.
  void Gather() {
    full = at::empty({padded}, shard.options().requires_grad(false));
    comm->AllGather(full, shard.detach())->Wait();
    for (size_t i = 0; i < params.size(); ++i) {
      params[i].set_data(full.slice(0, offsets[i], offsets[i] + numels[i]).view(shapes[i]));
    }
    pending = static_cast<int>(params.size());
  }
  // Releases the buffer's memory; autograd's saved views keep the (empty) storage.
  void Free() {
    auto* impl = full.storage().unsafeGetStorageImpl();
    impl->set_data_ptr_noswap(at::DataPtr(nullptr, full.device()));
    impl->set_nbytes(0);
  }
  // Refills the same storage (saved tensors see it again) through an alias
  // with its own version counter, so autograd accepts the saved views.
  void Regather() {
    auto* impl = full.storage().unsafeGetStorageImpl();
    if (impl->nbytes() != 0) return;
    const size_t nbytes = static_cast<size_t>(padded) * full.element_size();
    impl->set_data_ptr_noswap(c10::GetAllocator(full.device().type())->allocate(nbytes));
    impl->set_nbytes(nbytes);
    auto alias = at::empty({0}, full.options()).set_(full.storage(), 0, {padded}, {1});
    comm->AllGather(alias, shard.detach())->Wait();
  }
  // Flattens the full gradients, reduce-scatters them into shard.grad.
  void ReduceScatterGrads() {
    auto flat = at::zeros({padded}, shard.options().requires_grad(false));
    for (size_t i = 0; i < params.size(); ++i) {
      auto& g = params[i].mutable_grad();
      if (g.defined()) flat.slice(0, offsets[i], offsets[i] + numels[i]).copy_(g.reshape({-1}));
      g = at::Tensor();
    }
    auto out = at::empty({padded / comm->size()}, flat.options());
    comm->ReduceScatter(out, flat)->Wait();
    auto& sg = shard.mutable_grad();
    if (sg.defined()) sg.add_(out); else sg = out;
    Free();
  }
};

namespace {

// Post-accumulate-grad hook: tells the unit one more parameter is complete.
struct GradArrived : torch::autograd::PostAccumulateGradHook {
  explicit GradArrived(FsdpModel::Unit* unit) : unit_(unit) {}
  void operator()(const torch::autograd::Variable& /*param*/) override {
    if (--unit_->pending == 0) unit_->ReduceScatterGrads();
  }
  FsdpModel::Unit* unit_;
};

}  // namespace

FsdpModel::FsdpModel(std::shared_ptr<models::DecoderLM> model, const ProcessGroups& groups, FsdpOptions options)
    : model_(std::move(model)), groups_(groups), options_(options) {
  const auto& comm = groups_.fsdp;
  // Parameter name of each tensor, and which unit owns it (root by default).
  std::map<const void*, std::string> name_of;
  for (const auto& p : model_->named_parameters()) name_of[p.value().unsafeGetTensorImpl()] = p.key();
  // Owners: the root (nullptr) and each decoder layer. Each owner's parameters
  // form two units, matrices (weight decay) and vectors (no decay), so the
  // optimizer can treat the flat shards as AdamW param groups.
  std::vector<models::Module*> owners{nullptr};
  std::map<const void*, size_t> owner_of;
  for (size_t i = 0; i < model_->model->layers.size(); ++i) {
    owners.push_back(model_->model->layers[i].get());
    for (auto& p : owners.back()->parameters()) owner_of[p.unsafeGetTensorImpl()] = i + 1;
  }
  std::map<std::pair<size_t, bool>, Unit*> unit_of;
  for (auto& p : model_->parameters()) {
    const void* key = p.unsafeGetTensorImpl();
    const size_t o = owner_of.count(key) ? owner_of[key] : 0;
    const bool decay = p.dim() >= 2;
    Unit*& u = unit_of[{o, decay}];
    if (!u) {
      units_.push_back(std::make_unique<Unit>());
      u = units_.back().get();
      u->module = owners[o];
      u->decay = decay;
      u->name = (o == 0 ? std::string("root") : "model.layers." + std::to_string(o - 1)) +
                (decay ? "/matrices" : "/vectors");
    }
    u->params.push_back(p);
    u->names.push_back(name_of[key]);
  }
  const int n = comm->size(), r = comm->rank();
  for (auto& u : units_) {
    u->comm = comm;
    std::vector<at::Tensor> flat_parts;
    for (auto& p : u->params) {
      u->offsets.push_back(u->numel);
      u->numels.push_back(p.numel());
      u->shapes.push_back(p.sizes().vec());
      u->numel += p.numel();
      flat_parts.push_back(p.detach().reshape({-1}).to(at::kFloat));
    }
    u->padded = (u->numel + n - 1) / n * n;
    auto flat = at::zeros({u->padded}, at::kFloat);
    flat.slice(0, 0, u->numel).copy_(at::cat(flat_parts));
    const int64_t s = u->padded / n;
    u->shard = flat.slice(0, r * s, (r + 1) * s).clone().set_requires_grad(true);
    u->full = at::empty({0}, at::kFloat);
    for (auto& p : u->params) {
      p.set_data(at::empty({0}, p.options()));  // the full copy is gone; Gather brings it back
      torch::autograd::impl::set_post_acc_grad_hooks(p, std::make_unique<GradArrived>(u.get()));
    }
    Unit* unit = u.get();
    if (!unit->module) {
      model_->AddPreHook([unit](models::Module&) { unit->Gather(); });
      continue;
    }
    unit->module->AddPreHook([unit](models::Module&) { unit->Gather(); });
    const bool reshard = options_.reshard_after_forward;
    unit->module->AddPostHook([unit, reshard](models::Module&, const at::Tensor& out) {
      if (!reshard) return out;
      unit->Free();
      if (out.requires_grad()) {
        // Runs when the gradient w.r.t. this unit's output is ready: before the
        // unit's own backward, which needs its parameters again.
        out.register_hook([unit](const at::Tensor& grad) {
          unit->Regather();
          return grad;
        });
      }
      return out;
    });
  }
}

FsdpModel::~FsdpModel() {
  for (auto& u : units_) {
    if (u->module) u->module->ClearHooks();
    for (auto& p : u->params) torch::autograd::impl::set_post_acc_grad_hooks(p, nullptr);
  }
  model_->ClearHooks();
}

std::vector<at::Tensor> FsdpModel::ShardParameters(bool decay) const {
  std::vector<at::Tensor> shards;
  for (const auto& u : units_) {
    if (u->decay == decay) shards.push_back(u->shard);
  }
  return shards;
}

void FsdpModel::FinishGradients() {
  if (!groups_.dp_replicate || groups_.dp_replicate->size() == 1) return;
  for (auto& u : units_) {
    if (u->shard.grad().defined()) groups_.dp_replicate->AllReduce(u->shard.mutable_grad())->Wait();
  }
}

double FsdpModel::ClipGradNorm(double max_norm) {
  auto sumsq = at::zeros({1}, at::kDouble);
  for (auto& u : units_) {
    if (u->shard.grad().defined()) sumsq += u->shard.grad().to(at::kDouble).pow(2).sum();
  }
  groups_.fsdp->AllReduce(sumsq)->Wait();
  const double norm = std::sqrt(sumsq.item<double>());
  if (max_norm > 0) {
    const double coef = std::min(1.0, max_norm / (norm + 1e-6));
    for (auto& u : units_) {
      if (u->shard.grad().defined()) u->shard.mutable_grad().mul_(coef);
    }
  }
  return norm;
}

std::vector<std::pair<std::string, at::Tensor>> FsdpModel::GatherFullState() {
  std::vector<std::pair<std::string, at::Tensor>> state;
  for (auto& u : units_) {
    auto full = comm::AllGatherDim0(*groups_.fsdp, u->shard.detach());
    for (size_t i = 0; i < u->params.size(); ++i) {
      state.emplace_back(u->names[i], full.slice(0, u->offsets[i], u->offsets[i] + u->numels[i]).view(u->shapes[i]).clone());
    }
  }
  return state;
}

int64_t FsdpModel::ShardBytes() const {
  int64_t bytes = 0;
  for (const auto& u : units_) bytes += u->shard.numel() * u->shard.element_size();
  return bytes;
}

}  // namespace loom::parallel
