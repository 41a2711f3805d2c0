#include "parallel/plan/omni_memory.h"

#include <algorithm>
#include <cmath>

#include <ATen/ATen.h>

#include "models/audio/audio_encoder.h"
#include "ops/base/error.h"

namespace loom::parallel {
namespace {

// A transformer encoder of `layers` blocks, width e, h heads, MLP width m,
// whose blocks hold `block_params` each and whose root (stem, merger,
// projector, ...) the rest, over `positions` positions on this rank.
struct EncoderShape {
  int64_t parameters = 0, block_params = 0, layers = 0, e = 0, h = 0, m = 0;
  int64_t extra_per_position = 0;  // saved outside the blocks (stem, merger), floats per position
};

MemoryEstimate EstimateEncoder(const EncoderShape& s, const ParallelState& state, RecomputePolicy recompute,
                               int64_t positions) {
  MemoryEstimate e;
  const int64_t n = state.fsdp_size();
  e.parameters = s.parameters;
  const int64_t shard = (s.parameters + n - 1) / n;
  e.param_bytes = e.grad_bytes = 4 * shard;
  e.optimizer_bytes = 8 * shard;
  e.gathered_unit_bytes = 4 * 2 * std::max(s.block_params, s.parameters - s.layers * s.block_params);
  const int64_t attn = 4 * s.e /*2 norms in/out*/ + 3 * s.e /*q, k, v*/ + 2 * s.e /*rotated q, k*/ + s.e + s.h;
  const int64_t mlp = 2 * s.m;
  int64_t per = 0;
  switch (recompute) {
    case RecomputePolicy::kNone: per = s.layers * (attn + mlp); break;
    case RecomputePolicy::kSelective: per = s.layers * attn + mlp; break;
    case RecomputePolicy::kFull: per = s.layers * s.e + attn + mlp; break;
  }
  e.activation_bytes_per_token = 4 * (per + s.extra_per_position);
  e.activation_bytes = e.activation_bytes_per_token * positions;
  e.total_bytes = e.param_bytes + e.grad_bytes + e.optimizer_bytes + e.gathered_unit_bytes + e.activation_bytes;
  return e;
}

EncoderShape VisionShape(const models::Qwen2VisionConfig& v) {
  const int64_t e = v.embed_dim, m = v.mlp_dim();
  const int64_t block = 4 * e + 3 * e * e + 3 * e + e * e + e + e * m + m + m * e + e;
  // Outside the blocks per patch: the patch embedding's output, the merger's
  // norm and its hidden layer and activation (merged width / merge_units per patch), its output.
  return {v.NumParameters(), block, v.depth, e, v.num_heads, m, e + 2 * e + 2 * e + v.hidden_size / v.merge_units()};
}

EncoderShape AudioShape(const models::AudioEncoderConfig& a, int64_t llm_width) {
  const int64_t d = a.d_model, f = a.encoder_ffn_dim;
  const int64_t layer = 4 * d + 4 * d * d + 3 * d + d * f + f + f * d + d;
  // The conv stem's two outputs (conv1 at twice the positions), the final
  // norm and the projector's output.
  return {a.NumParameters() + d * llm_width + llm_width, layer, a.encoder_layers, d, a.encoder_attention_heads, f,
          2 * d + d + d + llm_width};
}

}  // namespace

std::vector<ComponentEstimate> EstimateOmniMemory(const models::OmniConfig& config, const Plan& plan, int64_t seq_len,
                                                  int64_t rows, double media_fraction) {
  if (!(media_fraction >= 0 && media_fraction <= 1)) {
    throw ConfigError(ErrorWithFix("media fraction " + std::to_string(media_fraction) + " is outside [0, 1]",
                                   "pass a share of each row's tokens, e.g. 0.25"));
  }
  const auto media_tokens = static_cast<int64_t>(std::ceil(media_fraction * static_cast<double>(seq_len)));
  std::vector<ComponentEstimate> out;
  for (const auto& c : plan.components) {
    const ParallelState state = StateOf(plan, c);
    ComponentEstimate ce;
    ce.name = c.name;
    if (c.name == "vision" && config.HasVision()) {
      ce.positions = rows * media_tokens * config.vision->merge_units();
      ce.estimate = EstimateEncoder(VisionShape(*config.vision), state, c.recompute, ce.positions);
    } else if (c.name == "audio" && config.HasAudio()) {
      const auto& a = *config.audio;
      const int64_t per_clip =
          models::AudioOutputLengths(a, at::tensor({a.input_frames()}, at::kLong)).second.item<int64_t>();
      const int64_t clips = (media_tokens + per_clip - 1) / std::max<int64_t>(1, per_clip);
      ce.positions = rows * clips * a.max_source_positions;
      ce.estimate = EstimateEncoder(AudioShape(a, config.llm.hidden_size), state, c.recompute, ce.positions);
    } else if (c.name == "image_out" && config.HasImageOut()) {
      // One root unit; per image position the aligner's and head's
      // activations (codebook dim, two hidden widths each, the code logits).
      const auto& v = *config.image_out;
      const int64_t p = v.projection_dim;
      ce.positions = rows * media_tokens;
      ce.estimate = EstimateEncoder({config.ImageOutParameters(), 0, 0, p, 0, 0, v.embed_dim + 4 * p + v.num_embeddings},
                                    state, c.recompute, ce.positions);
    } else if (c.name == "llm") {
      const int64_t sp = state.shape().sp;
      ce.positions = rows * ((seq_len + sp - 1) / sp);
      ce.estimate = EstimateMemory(config.llm, state, c.recompute, seq_len, rows, c.fsdp.layers_per_unit);
    } else {
      throw ConfigError(ErrorWithFix("plan component '" + c.name + "' is not a component of this omni model",
                                     "plan its components: vision, audio, image_out (when present) and llm"));
    }
    out.push_back(ce);
  }
  return out;
}

int64_t TotalBytes(const std::vector<ComponentEstimate>& estimates) {
  int64_t total = 0;
  for (const auto& c : estimates) total += c.estimate.total_bytes;
  return total;
}

int64_t LongestOmniSeqLenWithin(int64_t budget, const models::OmniConfig& config, const Plan& plan, int64_t rows,
                                double media_fraction) {
  return LongestWithin([&](int64_t len) {
    return TotalBytes(EstimateOmniMemory(config, plan, len, rows, media_fraction)) <= budget;
  });
}

}  // namespace loom::parallel
