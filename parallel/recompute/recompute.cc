#include "parallel/recompute/recompute.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>

#include "ops/base/error.h"

namespace loom::parallel {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

struct BodyHolder : torch::CustomClassHolder {
  explicit BodyHolder(models::Module::Body b) : body(std::move(b)) {}
  models::Module::Body body;
};

struct CheckpointFn : torch::autograd::Function<CheckpointFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& input, c10::IValue body) {
    ctx->saved_data["body"] = body;
    ctx->save_for_backward({input});
    torch::NoGradGuard no_grad;
    return c10::static_intrusive_pointer_cast<BodyHolder>(body.toCapsule())->body(input);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto input = ctx->get_saved_variables()[0].detach().requires_grad_(true);
    const auto& body = c10::static_intrusive_pointer_cast<BodyHolder>(ctx->saved_data["body"].toCapsule())->body;
    at::Tensor output;
    {
      torch::AutoGradMode enable(true);
      output = body(input);
    }
    torch::autograd::backward({output}, {grads[0]});
    return {input.grad(), at::Tensor()};
  }
};

}  // namespace

at::Tensor RecomputeInBackward(const models::Module::Body& body, const at::Tensor& input) {
  if (!torch::GradMode::is_enabled()) return body(input);
  return CheckpointFn::apply(input, c10::IValue::make_capsule(c10::make_intrusive<BodyHolder>(body)));
}

RecomputePolicy ParseRecomputePolicy(const std::string& name) {
  if (name == "none") return RecomputePolicy::kNone;
  if (name == "full") return RecomputePolicy::kFull;
  if (name == "selective") return RecomputePolicy::kSelective;
  throw ConfigError(ErrorWithFix("unknown recompute policy '" + name + "'", "use none, full or selective"));
}

namespace {

std::vector<models::Module*> Matching(models::TrainableModel& model, const std::string& pattern) {
  std::vector<models::Module*> out;
  for (const auto& m : model.named_modules("", /*include_self=*/false)) {
    if (!models::MatchesPattern(pattern, m.key())) continue;
    auto* module = dynamic_cast<models::Module*>(m.value().get());
    if (!module) throw Error("recompute: '" + m.key() + "' is not a loom::models::Module (no wrapper point)");
    out.push_back(module);
  }
  return out;
}

}  // namespace

int ApplyRecompute(models::TrainableModel& model, RecomputePolicy policy) {
  return ApplyRecompute(model, policy, model.plan_spec());
}

int ApplyRecompute(models::TrainableModel& model, RecomputePolicy policy, const models::PlanSpec& spec) {
  if (policy == RecomputePolicy::kNone) return 0;
  const std::string& pattern =
      policy == RecomputePolicy::kFull ? spec.fsdp_unit_pattern : spec.selective_recompute_pattern;
  const auto modules = Matching(model, pattern);
  if (modules.empty()) {
    throw ConfigError(ErrorWithFix(std::string("parallel.recompute ") +
                                       (policy == RecomputePolicy::kFull ? "full" : "selective") + ": " +
                                       model.family() + "'s plan spec names no module for it (pattern '" + pattern + "')",
                                   "use another parallel.recompute policy"));
  }
  const models::Module::Wrapper wrap = [](models::Module&, const models::Module::Body& body, const at::Tensor& x) {
    return RecomputeInBackward(body, x);
  };
  for (auto* m : modules) m->SetWrapper(wrap);
  return static_cast<int>(modules.size());
}

void RemoveRecompute(models::TrainableModel& model) {
  for (const auto& c : model.component_specs()) {
    for (const auto* pattern : {&c.spec.fsdp_unit_pattern, &c.spec.selective_recompute_pattern}) {
      for (auto* m : Matching(model, *pattern)) m->ClearWrapper();
    }
  }
}

}  // namespace loom::parallel
