// The Whisper-style audio encoder: transformers' WhisperEncoder, or with
// pooling Qwen2AudioEncoder (config.model_type). Parameter names as their
// state_dicts: conv1, conv2, embed_positions.weight (frozen, as in HF),
// layers.N.{self_attn.{q,k,v,out}_proj, self_attn_layer_norm, fc1, fc2,
// final_layer_norm}, layer_norm.
//
//   features (A, M, F): log-mel features of A clips, each padded to
//            F = 2 x max_source_positions frames
//   lengths  (A) int64: real frames of each clip (undefined = all F real)
//   -> (A, P, d): P = max_source_positions (Whisper) or half of it
//      (Qwen2-Audio, after AvgPool1d(2)); rows past OutputLengths are padding
//
// conv1 (k3) GELU, conv2 (k3, stride 2) GELU, + the position table, pre-LN
// layers, the final LayerNorm. With lengths, attention ignores each clip's
// padded positions as keys (Qwen2-Audio's mask); every query row is computed.
// Legend: A clips, M mel bins, F frames, P positions, d width.
#pragma once

#include <memory>
#include <utility>
#include <vector>

#include <c10/core/Device.h>

#include "models/audio/audio_config.h"
#include "models/core/layers.h"
#include "models/core/module.h"

namespace loom::models {

class Conv1d : public Module {
 public:
  Conv1d(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding, at::Device device);
  at::Tensor forward(const at::Tensor& x);  // (A, in, L) -> (A, out, L')
  at::Tensor weight, bias;                  // (out, in, kernel), (out)

 private:
  int64_t stride_, padding_;
};

class AudioAttention : public Module {
 public:
  AudioAttention(const AudioEncoderConfig& c, at::Device device);
  // x (A, P, d), key_mask (A, 1, 1, P) bool (true = attend) or undefined
  at::Tensor forward(const at::Tensor& x, const at::Tensor& key_mask);
  std::shared_ptr<Linear> q_proj, k_proj, v_proj, out_proj;  // k_proj has no bias

 private:
  int64_t heads_, head_dim_;
};

// One pre-LN layer: the FSDP / recompute unit.
class AudioEncoderLayer : public Module {
 public:
  AudioEncoderLayer(const AudioEncoderConfig& c, at::Device device);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& key_mask);
  std::shared_ptr<AudioAttention> self_attn;
  std::shared_ptr<LayerNorm> self_attn_layer_norm, final_layer_norm;
  std::shared_ptr<Linear> fc1, fc2;
};

// Per clip of `lengths` frames (int64, any shape): positions after the
// stride-2 conv, and output rows (after pooling for Qwen2-Audio, its
// _get_feat_extract_output_lengths).
std::pair<at::Tensor, at::Tensor> AudioOutputLengths(const AudioEncoderConfig& config, const at::Tensor& lengths);

class AudioEncoder : public Module {
 public:
  explicit AudioEncoder(const AudioEncoderConfig& config, at::Device device = at::kCPU);
  at::Tensor forward(const at::Tensor& features, const at::Tensor& lengths = {});

  // Per clip of `lengths` frames: positions after the stride-2 conv, and
  // output rows (after pooling, Qwen2-Audio's _get_feat_extract_output_lengths).
  std::pair<at::Tensor, at::Tensor> OutputLengths(const at::Tensor& lengths) const;

  const AudioEncoderConfig& config() const { return config_; }
  std::shared_ptr<Conv1d> conv1, conv2;
  std::shared_ptr<Embedding> embed_positions;
  std::vector<std::shared_ptr<AudioEncoderLayer>> layers;
  std::shared_ptr<LayerNorm> layer_norm;

 private:
  AudioEncoderConfig config_;
};

}  // namespace loom::models
