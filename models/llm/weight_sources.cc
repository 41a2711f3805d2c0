#include "models/llm/weight_sources.h"

#include <set>
#include <sstream>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "models/core/module.h"
#include "models/llm/moe_state_adapter.h"
#include "ops/base/error.h"

namespace loom::models {
namespace {

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Stable across platforms and runs (std::hash is not): FNV-1a, 64-bit.
uint64_t Fnv1a(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char ch : s) h = (h ^ ch) * 0x100000001b3ULL;
  return h;
}

// splitmix64's finaliser: spreads nearby seeds over the whole 64-bit range.
uint64_t SplitMix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

int64_t Numel(at::IntArrayRef shape) {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

void ExpectShape(const std::string& source, const std::string& name, at::IntArrayRef found,
                 at::IntArrayRef expected, const std::string& fix) {
  if (found == expected) return;
  std::ostringstream os;
  os << source << ": tensor '" << name << "' has shape " << found << " but the model expects " << expected;
  throw ConfigError(ErrorWithFix(os.str(), fix));
}

// A norm's scale: its module is named *norm* (RMSNorm, LayerNorm) or ln_*
// (the vision merger's ln_q).
bool IsNormWeight(const std::string& name) {
  return name.find("norm") != std::string::npos || name.find(".ln_") != std::string::npos || name.rfind("ln_", 0) == 0;
}

}  // namespace

HfInitSource::HfInitSource(double initializer_range, uint64_t seed, int64_t chunk)
    : std_(initializer_range), seed_(seed), chunk_(chunk) {
  TORCH_CHECK(chunk > 0, "HfInitSource: chunk must be positive");
}

void HfInitSource::Fill(const std::string& name, at::IntArrayRef shape, int64_t begin, at::Tensor dst) {
  torch::NoGradGuard no_grad;
  if (EndsWith(name, ".bias")) {
    dst.zero_();
    return;
  }
  if (IsNormWeight(name)) {
    dst.fill_(1.0);
    return;
  }
  if (dst.numel() == 0) return;
  const int64_t numel = Numel(shape), end = begin + dst.numel();
  const uint64_t name_hash = Fnv1a(name);
  for (int64_t c = begin / chunk_; c * chunk_ < end; ++c) {
    const int64_t lo = c * chunk_, hi = std::min(numel, lo + chunk_);
    auto generator = at::make_generator<at::CPUGeneratorImpl>(SplitMix(seed_ ^ SplitMix(name_hash + c)));
    auto values = at::empty({hi - lo}, at::kFloat).normal_(0.0, std_, generator);
    elements_drawn_ += hi - lo;
    const int64_t a = std::max(begin, lo), b = std::min(end, hi);
    dst.slice(0, a - begin, b - begin).copy_(values.slice(0, a - lo, b - lo));
  }
}

std::string NameMap::ToFile(const std::string& name) const {
  const std::pair<std::string, std::string>* best = nullptr;
  for (const auto& pair : prefixes) {
    if (name.rfind(pair.first, 0) == 0 && (!best || pair.first.size() > best->first.size())) best = &pair;
  }
  return best ? best->second + name.substr(best->first.size()) : name;
}

bool NameMap::Covers(const std::string& file_name) const {
  if (prefixes.empty()) return true;
  for (const auto& pair : prefixes) {
    if (file_name.rfind(pair.second, 0) == 0) return true;
  }
  return false;
}

HfWeightsSource::HfWeightsSource(const std::string& file_or_dir, const ParameterShapes& model,
                                 bool tied_embeddings, NameMap names)
    : source_(file_or_dir), names_(std::move(names)), checkpoint_(SafetensorsFiles::Open(file_or_dir)) {
  std::set<std::string> unused;
  for (const auto& n : checkpoint_.Names()) {
    if (names_.Covers(n)) unused.insert(n);
  }
  for (const auto& [param, shape] : model) {
    const std::string name = names_.ToFile(param);
    if (IsStackedExpertName(name)) {
      const std::vector<int64_t> expert_shape(shape.begin() + 1, shape.end());
      for (int64_t e = 0; e < shape[0]; ++e) {
        const std::string hf = HfExpertName(name, e);
        if (!checkpoint_.Has(hf)) {
          throw ConfigError(ErrorWithFix(source_ + ": expert tensor '" + hf + "' is missing (the model has " +
                                             std::to_string(shape[0]) + " experts in this layer)",
                                         "check num_experts in config.json against the checkpoint"));
        }
        ExpectShape(source_, hf, checkpoint_.Get(hf).sizes(), expert_shape,
                    "check moe_intermediate_size and hidden_size in config.json");
        unused.erase(hf);
      }
      continue;
    }
    if (!checkpoint_.Has(name)) {
      throw ConfigError(ErrorWithFix("checkpoint '" + source_ + "' has no tensor '" + name + "'",
                                     "check that the checkpoint matches the model config"));
    }
    ExpectShape(source_, name, checkpoint_.Get(name).sizes(), shape,
                "use the config.json that belongs to this checkpoint");
    unused.erase(name);
  }
  if (tied_embeddings) {  // HF may store the tied copy
    for (auto it = unused.begin(); it != unused.end();) it = EndsWith(*it, "lm_head.weight") ? unused.erase(it) : std::next(it);
  }
  if (!unused.empty()) {
    throw ConfigError(ErrorWithFix(source_ + ": tensor '" + *unused.begin() + "' (and " +
                                       std::to_string(unused.size() - 1) + " more) is not part of the model",
                                   "check model_type and the flags in config.json (biases, qk-norm, tied "
                                   "embeddings, num_experts, decoder_sparse_step, mlp_only_layers)"));
  }
}

void HfWeightsSource::CopySlice(const std::string& tensor_name, int64_t begin, at::Tensor dst) {
  if (dst.numel() == 0) return;
  // A view of the mapping: only the pages of the slice are read by the copy.
  auto src = checkpoint_.Get(names_.ToFile(tensor_name)).view({-1}).slice(0, begin, begin + dst.numel());
  dst.copy_(src);
  bytes_read_ += src.numel() * src.element_size();
}

void HfWeightsSource::Fill(const std::string& name, at::IntArrayRef shape, int64_t begin, at::Tensor dst) {
  torch::NoGradGuard no_grad;
  if (!IsStackedExpertName(name)) {
    CopySlice(name, begin, dst);
    return;
  }
  // A stacked (E, ...) slice spans consecutive experts, each its own HF tensor.
  const int64_t per_expert = Numel(shape.slice(1)), end = begin + dst.numel();
  for (int64_t e = begin / per_expert; e * per_expert < end; ++e) {
    const int64_t lo = std::max(begin, e * per_expert), hi = std::min(end, (e + 1) * per_expert);
    CopySlice(HfExpertName(name, e), lo - e * per_expert, dst.slice(0, lo - begin, hi - begin));
  }
}

ParameterShapes ShapesOf(const Module& module) {
  ParameterShapes shapes;
  for (const auto& p : module.named_parameters()) shapes.emplace_back(p.key(), p.value().sizes().vec());
  return shapes;
}

}  // namespace loom::models
