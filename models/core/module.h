// loom::models::Module: torch::nn::Module plus hook points.
//
// LibTorch's C++ modules have no forward hooks. Executors (FSDP, recompute,
// ...) attach to a model from outside through these, the role nn.Module's
// __call__ plays in Python; model code never communicates and never knows
// which executors are attached.
//
//   pre hooks   run before the body (e.g. all-gather a unit's parameters)
//   wrapper     runs the body itself (e.g. activation recompute)
//   post hooks  may replace the output (e.g. free parameters, hook backward)
//
// Each Add*Hook returns a handle; an executor removes exactly the hooks it
// installed with RemoveHook, so executors compose and come off in any order.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <torch/nn/module.h>

namespace loom::models {

class Module : public torch::nn::Module {
 public:
  using Body = std::function<at::Tensor(const at::Tensor&)>;
  using PreHook = std::function<void(Module&)>;
  using PostHook = std::function<at::Tensor(Module&, const at::Tensor& output)>;
  using Wrapper = std::function<at::Tensor(Module&, const Body& body, const at::Tensor& input)>;
  using HookId = int64_t;

  explicit Module(std::string name) : torch::nn::Module(std::move(name)) {}

  HookId AddPreHook(PreHook hook) {
    pre_hooks_.emplace_back(++last_id_, std::move(hook));
    return last_id_;
  }
  HookId AddPostHook(PostHook hook) {
    post_hooks_.emplace_back(++last_id_, std::move(hook));
    return last_id_;
  }
  // Removes the pre or post hook `id` returned by this module; unknown ids are ignored.
  void RemoveHook(HookId id) {
    const auto drop = [id](auto& v) { v.erase(std::remove_if(v.begin(), v.end(), [id](const auto& h) { return h.first == id; }), v.end()); };
    drop(pre_hooks_), drop(post_hooks_);
  }
  void SetWrapper(Wrapper wrapper) { wrapper_ = std::move(wrapper); }
  void ClearWrapper() { wrapper_ = nullptr; }

  size_t num_pre_hooks() const { return pre_hooks_.size(); }
  size_t num_post_hooks() const { return post_hooks_.size(); }
  bool has_wrapper() const { return static_cast<bool>(wrapper_); }

 protected:
  // Modules call their computation through this: input (any shape) -> output.
  // `body` must own what it captures (by value): a wrapper may keep it and run
  // it again later (activation recompute re-runs it during backward).
  at::Tensor CallWithHooks(const at::Tensor& input, const Body& body) {
    for (auto& hook : pre_hooks_) hook.second(*this);
    at::Tensor out = wrapper_ ? wrapper_(*this, body, input) : body(input);
    for (auto& hook : post_hooks_) out = hook.second(*this, out);
    return out;
  }

 private:
  std::vector<std::pair<HookId, PreHook>> pre_hooks_;
  std::vector<std::pair<HookId, PostHook>> post_hooks_;
  Wrapper wrapper_;
  HookId last_id_ = 0;
};

}  // namespace loom::models
