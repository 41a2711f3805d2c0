// loom::models::Module: torch::nn::Module plus hook points.
//
// LibTorch's C++ modules have no forward hooks. Executors (FSDP, recompute,
// ...) attach to a model from outside through these, the role nn.Module's
// __call__ plays in Python; model code never communicates and never knows
// which executors are attached.
//
//   pre hooks   run before the body (e.g. all-gather a unit's parameters)
//   wrapper     runs the body itself (e.g. activation checkpointing)
//   post hooks  may replace the output (e.g. free parameters, hook backward)
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <torch/nn/module.h>

namespace loom::models {

class Module : public torch::nn::Module {
 public:
  using Body = std::function<at::Tensor(const at::Tensor&)>;
  using PreHook = std::function<void(Module&)>;
  using PostHook = std::function<at::Tensor(Module&, const at::Tensor& output)>;
  using Wrapper = std::function<at::Tensor(Module&, const Body& body, const at::Tensor& input)>;

  explicit Module(std::string name) : torch::nn::Module(std::move(name)) {}

  void AddPreHook(PreHook hook) { pre_hooks_.push_back(std::move(hook)); }
  void AddPostHook(PostHook hook) { post_hooks_.push_back(std::move(hook)); }
  void SetWrapper(Wrapper wrapper) { wrapper_ = std::move(wrapper); }
  void ClearHooks() { pre_hooks_.clear(), post_hooks_.clear(), wrapper_ = nullptr; }

 protected:
  // Modules call their computation through this: input (any shape) -> output.
  // `body` must own what it captures (by value): a wrapper may keep it and run
  // it again later (activation recompute re-runs it during backward).
  at::Tensor CallWithHooks(const at::Tensor& input, const Body& body) {
    for (auto& hook : pre_hooks_) hook(*this);
    at::Tensor out = wrapper_ ? wrapper_(*this, body, input) : body(input);
    for (auto& hook : post_hooks_) out = hook(*this, out);
    return out;
  }

 private:
  std::vector<PreHook> pre_hooks_;
  std::vector<PostHook> post_hooks_;
  Wrapper wrapper_;
};

}  // namespace loom::models
