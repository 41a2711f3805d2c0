#include "models/omni/omni_model.h"

#include <filesystem>
#include <fstream>

#include <ATen/ATen.h>

#include "models/core/parameter_source.h"
#include "models/core/safetensors.h"
#include "models/llm/moe_state_adapter.h"
#include "ops/base/error.h"
#include "ops/base/sequence_shard.h"
#include "ops/loss/chunked_cross_entropy.h"

namespace loom::models {
namespace {

// What transformers' save_pretrained writes for Qwen2-VL (its legacy layout).
const NameMap kQwen2VlSaved{{{"vision.", "visual."}, {"llm.model.", "model."}, {"llm.lm_head.", "lm_head."}}};
// transformers' in-memory names (Qwen2VLForConditionalGeneration.state_dict()).
const NameMap kQwen2VlInMemory{{{"vision.", "model.visual."},
                                {"llm.model.", "model.language_model."},
                                {"llm.lm_head.", "lm_head."}}};

// Qwen2-Audio's saved layout (save_pretrained and state_dict agree).
const NameMap kQwen2Audio{{{"audio.encoder.", "audio_tower."},
                           {"audio.projector.", "multi_modal_projector.linear."},
                           {"llm.", "language_model."}}};

std::string PrefixedPattern(const std::string& prefix, const std::string& pattern) {
  return pattern.empty() ? "" : prefix + pattern;
}

// Flat (B * T) indices of the positions holding `token`, in row order.
at::Tensor TokenRows(const at::Tensor& input_ids, int64_t token) {
  return (input_ids == token).reshape({-1}).nonzero().squeeze(1);
}

// embeddings (B, T, C) with rows `at` (flat indices) replaced by `rows` (N, C),
// as transformers' masked_scatter: both inputs get their gradients.
at::Tensor ReplaceRows(const at::Tensor& embeddings, const at::Tensor& at, const at::Tensor& rows) {
  return embeddings.reshape({-1, embeddings.size(-1)})
      .index_put({at}, rows.to(embeddings.scalar_type()))
      .view_as(embeddings);
}

}  // namespace

AudioComponent::AudioComponent(const AudioEncoderConfig& config, int64_t llm_width, at::Device device)
    : Module("AudioComponent") {
  encoder = register_module("encoder", std::make_shared<AudioEncoder>(config, device));
  projector = register_module("projector", std::make_shared<Linear>(config.d_model, llm_width, true, device));
}

at::Tensor AudioComponent::forward(const at::Tensor& features, const at::Tensor& lengths) {
  // Through this component's hooks: a per-component plan gathers its root here.
  return CallWithHooks(features, [this, lengths](const at::Tensor& x) {
    auto out = projector->forward(encoder->forward(x, lengths));  // (A, P, C)
    if (!lengths.defined()) return out.reshape({-1, out.size(-1)});
    const auto rows = encoder->OutputLengths(lengths).second;      // (A)
    const auto keep = at::arange(out.size(1), rows.options()).unsqueeze(0) < rows.unsqueeze(1);
    return out.index({keep});  // clip by clip, each clip's real rows
  });
}

PlanSpec OmniModel::LlmSpec(const OmniConfig& config) {
  PlanSpec spec = DecoderLM::SpecFor(config.llm);
  spec.fsdp_unit_pattern = PrefixedPattern("llm.", spec.fsdp_unit_pattern);
  for (auto& p : spec.root_params) p = "llm." + p;
  spec.sp_attention_pattern = PrefixedPattern("llm.", spec.sp_attention_pattern);
  spec.expert_param_pattern = PrefixedPattern("llm.", spec.expert_param_pattern);
  spec.selective_recompute_pattern = PrefixedPattern("llm.", spec.selective_recompute_pattern);
  return spec;
}

PlanSpec OmniModel::VisionSpec(const OmniConfig& config) {
  PlanSpec spec;
  spec.fsdp_unit_pattern = "vision.blocks.*";
  spec.root_params = {"vision.patch_embed.proj.weight", "vision.merger.*"};
  spec.selective_recompute_pattern = "vision.blocks.*.mlp";
  spec.attention_heads = spec.kv_heads = config.vision->num_heads;
  return spec;  // sp_attention_pattern "": the tower runs whole images on every rank
}

PlanSpec OmniModel::AudioSpec(const OmniConfig& config) {
  PlanSpec spec;
  spec.fsdp_unit_pattern = "audio.encoder.layers.*";
  spec.root_params = {"audio.encoder.conv1.*", "audio.encoder.conv2.*", "audio.encoder.embed_positions.weight",
                      "audio.encoder.layer_norm.*", "audio.projector.*"};
  spec.attention_heads = spec.kv_heads = config.audio->encoder_attention_heads;
  return spec;  // whole clips on every rank; no selective unit
}

PlanSpec OmniModel::ImageOutSpec(const OmniConfig&) {
  PlanSpec spec;
  // In forward order: the embeddings (root), the aligner at the placed
  // codes, the head over the hidden states at the loss.
  spec.fsdp_unit_pattern = "image_out.aligner|image_out.head";
  spec.root_params = {"image_out.embeddings.weight"};
  return spec;  // no attention, no selective unit
}

PlanSpec OmniModel::SpecFor(const OmniConfig& config) {
  PlanSpec spec = LlmSpec(config);
  const auto join = [](const std::string& a, const std::string& b) { return a.empty() ? b : b.empty() ? a : a + "|" + b; };
  std::vector<PlanSpec> encoders;
  if (config.HasVision()) encoders.push_back(VisionSpec(config));
  if (config.HasAudio()) encoders.push_back(AudioSpec(config));
  if (config.HasImageOut()) encoders.push_back(ImageOutSpec(config));
  for (auto it = encoders.rbegin(); it != encoders.rend(); ++it) {  // forward order: vision, audio, llm
    spec.fsdp_unit_pattern = join(it->fsdp_unit_pattern, spec.fsdp_unit_pattern);
    spec.selective_recompute_pattern = join(it->selective_recompute_pattern, spec.selective_recompute_pattern);
    spec.root_params.insert(spec.root_params.end(), it->root_params.begin(), it->root_params.end());
  }
  return spec;
}

std::vector<ComponentSpec> OmniModel::component_specs() const {
  std::vector<ComponentSpec> out;
  if (config_.HasVision()) out.push_back({"vision", "vision", VisionSpec(config_), "qwen2_vision"});
  if (config_.HasAudio()) out.push_back({"audio", "audio", AudioSpec(config_), config_.audio->model_type});
  if (config_.HasImageOut()) out.push_back({"image_out", "image_out", ImageOutSpec(config_), "janus_vq_head"});
  out.push_back({"llm", "llm", LlmSpec(config_), config_.llm.model_type});
  return out;
}

OmniModel::OmniModel(const OmniConfig& config, at::Device device) : TrainableModel("OmniModel"), config_(config) {
  config_.Validate("omni model config");
  // Registration order is forward order (FSDP prefetches in it): encoders first.
  if (config_.HasVision()) vision = register_module("vision", std::make_shared<Qwen2VisionTower>(*config_.vision, device));
  if (config_.HasAudio()) {
    audio = register_module("audio", std::make_shared<AudioComponent>(*config_.audio, config_.llm.hidden_size, device));
  }
  if (config_.HasImageOut()) {
    image_out = register_module("image_out", std::make_shared<ImageOutComponent>(*config_.image_out, device));
  }
  llm = register_module("llm", std::make_shared<DecoderLM>(config_.llm, device));
}

void OmniModel::SetAttentionBackend(std::shared_ptr<ops::AttentionBackend> backend) {
  llm->SetAttentionBackend(std::move(backend));
}

void OmniModel::SetExpertDispatcher(std::shared_ptr<ops::ExpertDispatcher> dispatcher) {
  llm->SetExpertDispatcher(std::move(dispatcher));
}

at::Tensor OmniModel::TextIds(const at::Tensor& input_ids) const {
  const int64_t v = config_.ImageCodeOffset();
  const int64_t codes = image_out ? config_.image_out->num_embeddings : 0;
  if (input_ids.numel() == 0) return input_ids;
  const auto [lo, hi] = input_ids.aminmax();
  const int64_t low = lo.item<int64_t>(), high = hi.item<int64_t>();
  if (low < 0 || high >= v + codes) {
    const std::string range = "[0, " + std::to_string(v + codes) + ")";
    throw ConfigError(ErrorWithFix(
        "input id " + std::to_string(low < 0 ? low : high) + " is outside the model's ids " + range +
            (image_out ? " (text ids below " + std::to_string(v) + ", image codes " + std::to_string(v) + " + c)"
                       : " (it has no image_out component, so no image-code ids)"),
        image_out ? "encode target images with a VQ of num_embeddings " + std::to_string(codes) +
                        " and check the tokenizer's vocabulary fits vocab_size " + std::to_string(v)
                  : "add components.image_out for image-code ids, or check the tokenizer's vocabulary fits vocab_size " +
                        std::to_string(v)));
  }
  return high >= v ? input_ids.masked_fill(input_ids >= v, 0) : input_ids;
}

at::Tensor OmniModel::PositionIds(const ModelInputs& in) const {
  if (in.position_ids.defined() || !vision) return in.position_ids;
  return MropePositionIds(TextIds(in.input_ids), in.media.image_grid_thw, in.media.video_grid_thw, config_.vision_tokens,
                          config_.vision->spatial_merge_size, in.doc_ids);
}

at::Tensor OmniModel::PlaceVision(const at::Tensor& embeddings, const ModelInputs& in) {
  const auto& m = in.media;
  const auto image_at = TokenRows(in.input_ids, config_.vision_tokens.image_token_id);
  const auto video_at = TokenRows(in.input_ids, config_.vision_tokens.video_token_id);
  const int64_t image_tokens = image_at.size(0), video_tokens = video_at.size(0);
  if (!vision) {
    if (!m.pixel_values.defined() && !m.pixel_values_videos.defined() && image_tokens == 0 && video_tokens == 0) {
      return embeddings;
    }
    throw ConfigError(ErrorWithFix("images or video tokens were given to a model without a vision component",
                                   "add components.vision to the model, or drop the media from the data"));
  }
  // One tower call over images then videos: attention is per frame, so this
  // equals transformers' two calls. It runs in every micro-batch, with no
  // rows when there are no images, so every rank takes part in the tower's
  // collectives (FSDP) in every step.
  std::vector<at::Tensor> pixels, grids;
  if (m.pixel_values.defined()) pixels.push_back(m.pixel_values), grids.push_back(m.image_grid_thw);
  if (m.pixel_values_videos.defined()) pixels.push_back(m.pixel_values_videos), grids.push_back(m.video_grid_thw);
  for (const auto& g : grids) {
    if (!g.defined()) {
      throw ConfigError(ErrorWithFix("pixel values were given without their grid_thw",
                                     "pass image_grid_thw with pixel_values and video_grid_thw with pixel_values_videos"));
    }
  }
  if (pixels.empty()) {
    pixels.push_back(at::zeros({0, config_.vision->patch_dim()}, embeddings.options().dtype(at::kFloat)));
    grids.push_back(at::zeros({0, 3}, at::kLong));
  }
  const auto features = vision->forward(at::cat(pixels), at::cat(grids));  // (image + video tokens, C)
  const int64_t merge = config_.vision->merge_units();
  const int64_t image_rows = m.pixel_values.defined() ? m.pixel_values.size(0) / merge : 0;
  const int64_t video_rows = m.pixel_values_videos.defined() ? m.pixel_values_videos.size(0) / merge : 0;
  if (image_rows != image_tokens || video_rows != video_tokens) {
    throw ConfigError(ErrorWithFix(
        "input_ids hold " + std::to_string(image_tokens) + " image and " + std::to_string(video_tokens) +
            " video placeholder tokens, but the pixels give " + std::to_string(image_rows) + " image and " +
            std::to_string(video_rows) + " video embeddings (patches / " + std::to_string(merge) + ")",
        "emit t*h*w/" + std::to_string(merge) + " placeholder tokens (ids " +
            std::to_string(config_.vision_tokens.image_token_id) + " / " +
            std::to_string(config_.vision_tokens.video_token_id) + ") per image and video, matching its grid"));
  }
  return ReplaceRows(embeddings, at::cat({image_at, video_at}), features);
}

at::Tensor OmniModel::PlaceAudio(const at::Tensor& embeddings, const ModelInputs& in) {
  const auto& m = in.media;
  if (!audio) {
    if (!m.input_features.defined()) return embeddings;
    throw ConfigError(ErrorWithFix("audio features were given to a model without an audio component",
                                   "add components.audio to the model, or drop the audio from the data"));
  }
  const auto& c = *config_.audio;
  const auto audio_at = TokenRows(in.input_ids, config_.audio_token_id);
  const int64_t tokens = audio_at.size(0);
  // Every micro-batch runs the encoder, on no clips when there are none
  // (every rank takes part in its collectives).
  auto features = m.input_features.defined() ? m.input_features
                                             : at::zeros({0, c.num_mel_bins, c.input_frames()}, at::kFloat);
  auto lengths = m.input_features.defined()
                     ? (m.feature_lengths.defined() ? m.feature_lengths
                                                    : at::full({features.size(0)}, c.input_frames(), at::TensorOptions().dtype(at::kLong)))
                     : at::zeros({0}, at::kLong);
  const auto rows = audio->forward(features, lengths);  // (sum of clip rows, C)
  if (rows.size(0) != tokens) {
    throw ConfigError(ErrorWithFix("input_ids hold " + std::to_string(tokens) + " audio placeholder tokens, but the clips give " +
                                       std::to_string(rows.size(0)) + " embeddings",
                                   "emit each clip's output length ((frames - 1) / 2 + 1 - 2) / 2 + 1 of audio tokens (id " +
                                       std::to_string(config_.audio_token_id) + ")"));
  }
  return ReplaceRows(embeddings, audio_at, rows);
}

at::Tensor OmniModel::PlaceImageCodes(const at::Tensor& embeddings, const ModelInputs& in) {
  if (!image_out) return embeddings;
  // Every forward runs the component, on no codes when there are none (its
  // hooks gather its parameters on every rank).
  const auto at = (in.input_ids >= config_.ImageCodeOffset()).reshape({-1}).nonzero().squeeze(1);  // (K)
  const auto codes = in.input_ids.reshape({-1}).index_select(0, at) - config_.ImageCodeOffset();
  return ReplaceRows(embeddings, at, image_out->forward(codes));  // (K, C) rows
}

at::Tensor OmniModel::HiddenImpl(const ModelInputs& in, bool record) {
  const SequenceShard shard = in.sequence;
  if (shard.size < 1 || shard.rank < 0 || shard.rank >= shard.size) {
    throw Error("OmniModel: sequence shard " + std::to_string(shard.rank) + " of " + std::to_string(shard.size));
  }
  ModelInputs text = in;
  text.input_ids = TextIds(in.input_ids);
  text.media = {};
  text.sequence = {};
  text.position_ids = PositionIds(in);
  if (shard.size > 1) {  // the decoder runs on this rank's slice; embeddings are placed whole first
    const int64_t b = in.input_ids.size(0), t = in.input_ids.size(1);
    auto positions = text.position_ids.defined() ? text.position_ids
                                                 : at::arange(t, in.input_ids.options()).unsqueeze(0).expand({b, t});
    text.position_ids = ops::ShardSequence(positions, positions.dim() - 1, shard.rank, shard.size, 0);
    text.doc_ids = ops::ShardSequence(in.doc_ids.defined() ? in.doc_ids : at::zeros_like(in.input_ids), 1, shard.rank,
                                      shard.size, -1);
  }
  // The body owns its captures (a wrapper may run it again).
  return CallWithHooks(in.input_ids, [this, in, text, record, shard](const at::Tensor&) {
    const auto place = [this, &in, shard](const at::Tensor& e) {
      auto placed = PlaceImageCodes(PlaceAudio(PlaceVision(e, in), in), in);
      return shard.size > 1 ? ops::ShardSequence(placed, 1, shard.rank, shard.size, 0) : placed;
    };
    return llm->HiddenEdited(text, place, record);
  });
}

at::Tensor OmniModel::Hidden(const ModelInputs& in) { return HiddenImpl(in, /*record=*/false); }

at::Tensor OmniModel::Logits(const ModelInputs& in) {
  auto h = Hidden(in);
  return at::matmul(h, llm->OutputWeight().to(h.scalar_type()).t());
}

at::Tensor OmniModel::ExtendedLogits(const ModelInputs& in) {
  auto h = Hidden(in);
  auto text = at::matmul(h, llm->OutputWeight().to(h.scalar_type()).t());  // (B, T, V)
  return image_out ? at::cat({text, image_out->Logits(h).to(text.scalar_type())}, -1) : text;
}

at::Tensor OmniModel::LossSum(const ModelInputs& in, const at::Tensor& labels, int64_t chunk_size) {
  auto h = HiddenImpl(in, /*record=*/true);  // (B, T, C); this rank's slice under SP, as labels
  if (!image_out) return LossOfHidden(h, llm->OutputWeight(), labels, in, chunk_size, &last_loss_by_group_);
  const int64_t v = config_.ImageCodeOffset(), n = config_.image_out->num_embeddings;
  const auto flat = labels.reshape({-1});
  const auto is_code = flat >= v;
  auto loss = LossOfHidden(h, llm->OutputWeight(), labels.masked_fill(labels >= v, -100), in, chunk_size,
                           &last_loss_by_group_);
  // The image head on the positions whose label is a code: (K, C) -> (K, N),
  // run on no rows when there are none (every parameter takes part).
  const auto at = is_code.nonzero().squeeze(1);
  const auto targets = flat.index_select(0, at) - v;  // (K) in [0, N)
  if (targets.numel() > 0 && targets.max().item<int64_t>() >= n) {
    throw ConfigError(ErrorWithFix("a label is image code " + std::to_string(targets.max().item<int64_t>()) +
                                       " but image_out has " + std::to_string(n) + " codes",
                                   "encode target images with the VQ whose num_embeddings the model's image_out has"));
  }
  const auto rows = h.reshape({-1, h.size(-1)}).index_select(0, at);
  const auto log_probs = image_out->Logits(rows).to(at::kFloat).log_softmax(-1);  // (K, N)
  const auto token_losses = -log_probs.gather(1, targets.unsqueeze(1)).squeeze(1);  // (K)
  if (last_loss_by_group_.defined()) {
    last_loss_by_group_.index_add_(0, in.loss_groups.reshape({-1}).index_select(0, at), token_losses.detach());
  }
  return loss + token_losses.sum();
}

namespace {

// The whole-model names of a checkpoint of format `model_type`.
NameMap FormatNames(const std::string& model_type, const std::string& checkpoint) {
  if (model_type == "qwen2_audio") return kQwen2Audio;
  if (model_type != "qwen2_vl") return {};
  for (const auto& name : SafetensorsFiles::Open(checkpoint).Names()) {
    if (name.rfind("model.language_model.", 0) == 0) return kQwen2VlInMemory;
  }
  return kQwen2VlSaved;
}

}  // namespace

NameMap OmniModel::CheckpointNames(const std::string& checkpoint) const {
  return FormatNames(config_.model_type, checkpoint);
}

NameMap ComponentNamesIn(const std::string& component, const std::string& dir) {
  std::ifstream in(dir + "/config.json");
  const auto j = nlohmann::json::parse(in, nullptr, false);
  const std::string type = j.is_object() ? j.value("model_type", std::string()) : "";
  const std::string prefix = component + ".";
  if (!IsOmniModelType(type)) return NameMap{{{prefix, ""}}};  // an LLM directory: the whole file is the llm
  const NameMap whole = FormatNames(type, dir);
  if (whole.prefixes.empty()) return NameMap{{{prefix, prefix}}};  // loom_omni: Loom's own names
  NameMap out;
  for (const auto& pair : whole.prefixes) {
    if (pair.first.rfind(prefix, 0) == 0) out.prefixes.push_back(pair);
  }
  return out;
}

void OmniModel::InitWeights(uint64_t seed) {
  HfInitSource source(config_.llm.initializer_range, seed);
  FillParameters(*this, source);
}

void OmniModel::LoadFrom(const std::string& dir) {
  HfWeightsSource source(dir, ShapesOf(*this), config_.llm.tie_word_embeddings, CheckpointNames(dir));
  FillParameters(*this, source);
}

void OmniModel::SaveExport(std::vector<std::pair<std::string, at::Tensor>> state, const std::string& dir) const {
  const NameMap names = config_.model_type == "qwen2_vl"      ? kQwen2VlSaved
                        : config_.model_type == "qwen2_audio" ? kQwen2Audio
                                                              : NameMap{};
  for (auto& [name, t] : state) name = names.ToFile(name), t = t.to(at::kFloat);
  std::filesystem::create_directories(dir);
  SaveSafetensorsDir(dir, StackedExpertsToHf(std::move(state)));
  auto json = OmniConfigToJson(config_);
  json["torch_dtype"] = "float32";
  std::ofstream(std::filesystem::path(dir) / "config.json") << json.dump(2) << "\n";
}

std::shared_ptr<OmniModel> LoadOmniModel(const std::string& dir) {
  auto model = std::make_shared<OmniModel>(LoadOmniConfig(dir + "/config.json"));
  model->LoadFrom(dir);
  return model;
}

}  // namespace loom::models
