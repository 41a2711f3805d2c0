// OmniModel: one trainable model composed of named components, each from
// its family's code: encoders that turn media into embeddings of the LLM's
// width, and the foundation (any decoder family, dense or MoE) over the mixed
// sequence. Today's components:
//
//   vision  Qwen2VisionTower (images and videos; optional)
//   audio   AudioComponent: a Whisper-style encoder + a projector to the
//           LLM's width (optional)
//   image_out  ImageOutComponent: generation embeddings + aligner at the
//           image-code positions (ids >= the LLM's vocab), the head's
//           image-token loss beside the text loss (optional)
//   llm     DecoderLM (with M-RoPE when there is vision)
//
// Parameter names are "<component>.<the component's own names>"
// (vision.blocks.0.attn.qkv.weight, llm.model.layers.0..., llm.lm_head.weight),
// so plans address components by module path. Checkpoints keep their
// format's names: a Qwen2-VL directory stores visual.*, model.*, lm_head.*,
// a Qwen2-Audio one audio_tower.*, multi_modal_projector.linear.*,
// language_model.* (CheckpointNames maps them; exports write them back).
// Audio clips: each clip's first OutputLengths rows (Qwen2-Audio's rule)
// replace its audio placeholder tokens, clip after clip.
//
// Forward: the LLM embeds input_ids; inside its root hooks the vision tower
// runs once over every image and video of the micro-batch and its outputs
// replace the placeholder tokens' embeddings (images first, then videos, in
// order, as transformers' masked_scatter); the decoder runs over the result
// with M-RoPE positions from the grids (models::MropePositionIds) unless the
// inputs carry them. Nothing here communicates.
//
// Legend: B rows, T positions, C hidden, V vocab.
#pragma once

#include <memory>
#include <string>

#include "models/audio/audio_encoder.h"
#include "models/core/trainable_model.h"
#include "models/llm/decoder_lm.h"
#include "models/llm/weight_sources.h"
#include "models/omni/image_out.h"
#include "models/omni/omni_config.h"
#include "models/vision/qwen2_vision.h"

namespace loom::models {

// The audio component: encoder, then projector (A, P, d) -> (A, P, C).
class AudioComponent : public Module {
 public:
  AudioComponent(const AudioEncoderConfig& config, int64_t llm_width, at::Device device);
  // features (A, M, F), lengths (A) -> every clip's real rows, concatenated: (sum rows, C).
  at::Tensor forward(const at::Tensor& features, const at::Tensor& lengths);
  std::shared_ptr<AudioEncoder> encoder;
  std::shared_ptr<Linear> projector;
};

class OmniModel : public TrainableModel {
 public:
  // The plan spec of the whole model as one component: the LLM's patterns
  // under "llm." and the tower's blocks ("vision.blocks.*") as units too.
  static PlanSpec SpecFor(const OmniConfig& config);
  // Each component's own spec (full module paths): a plan may give each its
  // own mesh, recompute and precision.
  static PlanSpec LlmSpec(const OmniConfig& config);
  static PlanSpec VisionSpec(const OmniConfig& config);  // config must have vision
  static PlanSpec AudioSpec(const OmniConfig& config);   // config must have audio
  static PlanSpec ImageOutSpec(const OmniConfig& config);  // config must have image_out

  // Parameters zero-filled on `device` (at::kMeta: shapes only) until
  // InitWeights or LoadFrom.
  explicit OmniModel(const OmniConfig& config, at::Device device = at::kCPU);

  // Final hidden states (B, T, C) and full logits (B, T, V; tests, inference).
  at::Tensor Hidden(const ModelInputs& in);
  at::Tensor Logits(const ModelInputs& in);
  // Logits over the extended vocabulary (B, T, V + N): the text head's, then
  // the image head's (image_out; without it, Logits). For generation.
  at::Tensor ExtendedLogits(const ModelInputs& in);
  // The text loss over labels in [0, V) plus, with image_out, the image
  // head's cross-entropy over labels V + c (code c), both sums; loss groups
  // sum both kinds of token.
  at::Tensor LossSum(const ModelInputs& in, const at::Tensor& labels, int64_t chunk_size) override;
  double AuxLoss() const override { return llm->AuxLoss(); }
  RouterStats* router_stats() const override { return llm->router_stats(); }

  PlanSpec plan_spec() const override { return SpecFor(config_); }
  std::vector<ComponentSpec> component_specs() const override;
  std::string family() const override { return config_.model_type; }
  int64_t NumParameters() const override { return config_.NumParameters(); }
  // Under SP the model takes whole rows and slices the placed embeddings,
  // the M-RoPE positions (along T) and the documents itself.
  bool SlicesSequenceItself() const override { return true; }
  void SetAttentionBackend(std::shared_ptr<ops::AttentionBackend> backend) override;
  void SetExpertDispatcher(std::shared_ptr<ops::ExpertDispatcher> dispatcher) override;
  // config.json + model.safetensors in the config's format (a qwen2_vl
  // directory loads in transformers' Qwen2VLForConditionalGeneration).
  void SaveExport(std::vector<std::pair<std::string, at::Tensor>> state, const std::string& dir) const override;

  // HF-initialised random weights (HfInitSource).
  void InitWeights(uint64_t seed);
  // Every parameter from a model directory of this config's format (strict:
  // a missing, extra or mis-shaped tensor is a ConfigError naming it).
  void LoadFrom(const std::string& dir);
  // Where each parameter is stored in `checkpoint` (a file or directory of
  // this format; Qwen2-VL: transformers' saved layout or its in-memory
  // model.language_model.* / model.visual.* layout).
  NameMap CheckpointNames(const std::string& checkpoint) const;
  // The M-RoPE position ids (3, B, T) of `in` (its own, or from its grids).
  at::Tensor PositionIds(const ModelInputs& in) const;

  const OmniConfig& config() const { return config_; }
  std::shared_ptr<Qwen2VisionTower> vision;  // null without a vision component
  std::shared_ptr<AudioComponent> audio;     // null without an audio component
  std::shared_ptr<ImageOutComponent> image_out;  // null without an image decoder
  std::shared_ptr<DecoderLM> llm;

 private:
  // The LLM's hidden states with the encoders' outputs placed; `record`: as DecoderLM.
  at::Tensor HiddenImpl(const ModelInputs& in, bool record);
  // (B, T, C) embeddings with the vision outputs at the image and video placeholders.
  at::Tensor PlaceVision(const at::Tensor& embeddings, const ModelInputs& in);
  // The same for the audio clips at the audio placeholders.
  at::Tensor PlaceAudio(const at::Tensor& embeddings, const ModelInputs& in);
  // The same for image codes (ids >= V) through image_out.
  at::Tensor PlaceImageCodes(const at::Tensor& embeddings, const ModelInputs& in);
  // input_ids with image codes replaced by a text id (the LLM embeds them,
  // then PlaceImageCodes overwrites those rows); ConfigError for an id
  // outside [0, V + N).
  at::Tensor TextIds(const at::Tensor& input_ids) const;

  OmniConfig config_;
};

// Where component `component`'s parameters ("<component>.*") are stored in
// model directory `dir`: an LLM directory (all of it is the llm), or a
// qwen2_vl / qwen2_audio / loom_omni one (only that component's tensors).
// For OmniConfig's components given as {"from": DIR}.
NameMap ComponentNamesIn(const std::string& component, const std::string& dir);

// Loads an omni model directory (config.json of an omni format + safetensors).
std::shared_ptr<OmniModel> LoadOmniModel(const std::string& dir);

}  // namespace loom::models
