#include "ops/rope/rope.h"

#include <cmath>

#include <ATen/ATen.h>

#include "ops/base/error.h"

namespace loom::ops {

at::Tensor InverseFrequencies(int64_t head_dim, double theta, const RopeScaling& s) {
  // inv_freq[i] = theta^(-2i/d), computed as HF does (int64 arange -> float).
  auto exponents = at::arange(0, head_dim, 2, at::kLong).to(at::kFloat) / static_cast<double>(head_dim);
  auto inv_freq = 1.0 / at::pow(at::scalar_tensor(theta, at::kFloat), exponents);
  if (s.type == "default" || s.type == "mrope") return inv_freq;
  if (s.type != "llama3") {
    throw ConfigError(ErrorWithFix("rope_scaling type '" + s.type + "' is not supported",
                                   "use no rope_scaling, rope_type 'llama3' or type 'mrope'"));
  }
  // Llama 3.1: long wavelengths are divided by `factor`, short ones kept, and
  // the band between is interpolated smoothly.
  const double low_freq_wavelen = s.original_max_position_embeddings / s.low_freq_factor;
  const double high_freq_wavelen = s.original_max_position_embeddings / s.high_freq_factor;
  auto wavelen = 2 * M_PI / inv_freq;
  auto scaled = at::where(wavelen > low_freq_wavelen, inv_freq / s.factor, inv_freq);
  auto smooth = (s.original_max_position_embeddings / wavelen - s.low_freq_factor) /
                (s.high_freq_factor - s.low_freq_factor);
  auto smoothed = (1 - smooth) * scaled / s.factor + smooth * scaled;
  auto is_medium = (wavelen >= high_freq_wavelen).logical_and(wavelen <= low_freq_wavelen);
  return at::where(is_medium, smoothed, scaled);
}

std::pair<at::Tensor, at::Tensor> RopeCosSin(const at::Tensor& position_ids,
                                             const at::Tensor& inv_freq) {
  // freqs (B, T, D/2) = positions x inv_freq, in fp32.
  auto freqs = position_ids.to(at::kFloat).unsqueeze(-1) * inv_freq.to(at::kFloat);
  auto emb = at::cat({freqs, freqs}, -1);
  return {emb.cos(), emb.sin()};
}

std::pair<at::Tensor, at::Tensor> MropeCosSin(const at::Tensor& position_ids, const at::Tensor& inv_freq,
                                              const std::vector<int64_t>& mrope_section) {
  if (position_ids.dim() != 3 || position_ids.size(0) != 3) {
    throw ConfigError(ErrorWithFix("M-RoPE needs (3, B, T) position ids (rows t, h, w)",
                                   "build them with models::MropePositionIds"));
  }
  auto [cos3, sin3] = RopeCosSin(position_ids, inv_freq);  // (3, B, T, D)
  std::vector<int64_t> chunks(mrope_section);
  chunks.insert(chunks.end(), mrope_section.begin(), mrope_section.end());
  const auto pick = [&](const at::Tensor& t) {
    auto parts = t.split_with_sizes(chunks, -1);
    std::vector<at::Tensor> out;
    for (size_t i = 0; i < parts.size(); ++i) out.push_back(parts[i][static_cast<int64_t>(i % 3)]);
    return at::cat(out, -1);  // (B, T, D)
  };
  return {pick(cos3), pick(sin3)};
}

namespace {
at::Tensor RotateHalf(const at::Tensor& x) {
  const int64_t half = x.size(-1) / 2;
  return at::cat({-x.slice(-1, half), x.slice(-1, 0, half)}, -1);
}
}  // namespace

at::Tensor ApplyRope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  // cos/sin (B, T, D) -> (B, 1, T, D) to broadcast over heads.
  auto c = cos.unsqueeze(1).to(x.scalar_type());
  auto s = sin.unsqueeze(1).to(x.scalar_type());
  return x * c + RotateHalf(x) * s;
}

}  // namespace loom::ops
