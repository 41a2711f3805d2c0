#include "sdk/train/chat_data_check.h"

#include <vector>

#include "ops/base/error.h"

namespace loom::train {

void CheckChatDataFits(const data::ChatDataset& d, const models::OmniModel* omni) {
  bool images = false, clips = false;
  for (int64_t i = 0; i < d.n_docs(); ++i) {
    for (const auto& m : d.sample(i).media) (m.kind == data::MediaKind::kImage ? images : clips) = true;
  }
  const std::string name = d.tokens().prefix();
  if (!omni) {
    if (images || clips || d.HasImageOut()) {
      throw ConfigError(ErrorWithFix(name + " holds images or audio, and the model is a text LLM",
                                     "train an omni model (model.config or model.path of a loom_omni, qwen2_vl or "
                                     "qwen2_audio model)"));
    }
    return;
  }
  const auto& c = omni->config();
  std::vector<std::string> problems;
  const auto same = [&](const std::string& what, int64_t in_data, int64_t in_model, const std::string& fix) {
    if (in_data != in_model) {
      problems.push_back(what + ": the dataset has " + std::to_string(in_data) + ", the model " +
                         std::to_string(in_model) + "; fix: " + fix);
    }
  };
  const std::string rebuild = "rebuild the dataset with the model's markers, or set the model's token ids to the dataset's";
  if (images) {
    if (!c.HasVision()) problems.push_back(name + " holds images and the model has no vision component; fix: add one");
    if (c.HasVision()) {
      same("image placeholder id", d.markers().image_pad, c.vision_tokens.image_token_id, rebuild);
      same("vision_start id", d.markers().vision_start, c.vision_tokens.vision_start_token_id, rebuild);
      same("vision_end id", d.markers().vision_end, c.vision_end_token_id, rebuild);
      same("patch size", d.image_options().patch_size, c.vision->patch_size, "rebuild with the tower's patch size");
      same("merge size", d.image_options().merge_size, c.vision->spatial_merge_size, "rebuild with the tower's merge");
      same("temporal patch size", d.image_options().temporal_patch_size, c.vision->temporal_patch_size,
           "rebuild with the tower's temporal_patch_size");
    }
  }
  if (clips) {
    if (!c.HasAudio()) problems.push_back(name + " holds audio and the model has no audio component; fix: add one");
    if (c.HasAudio()) {
      same("audio placeholder id", d.markers().audio_pad, c.audio_token_id, rebuild);
      same("mel bins", d.audio_options().n_mels, c.audio->num_mel_bins,
           "rebuild with --n-mels " + std::to_string(c.audio->num_mel_bins));
      const auto& o = d.audio_options();
      same("audio frames per clip", o.chunk_seconds * o.sampling_rate / o.hop_length, c.audio->input_frames(),
           "set the audio encoder's max_source_positions to " +
               std::to_string(o.chunk_seconds * o.sampling_rate / o.hop_length / 2) + " (Whisper's 30 s window)");
      if (d.audio_encoder() != c.audio->model_type) {
        problems.push_back("audio encoder: the dataset counts tokens for " + d.audio_encoder() + ", the model has " +
                           c.audio->model_type + "; fix: rebuild with --audio-encoder " + c.audio->model_type);
      }
    }
  }
  if (d.HasImageOut()) {
    const auto& tok = d.image_tokenizer();
    if (!c.HasImageOut()) {
      problems.push_back(name + " holds output images and the model has no image decoder; fix: add components.image_out");
    } else {
      same("image codes (num_embeddings)", tok.num_embeddings, c.image_out->num_embeddings,
           "set image_out's num_embeddings to the image tokenizer's (" + tok.dir + ")");
      same("codes per output image", tok.tokens, c.ImageOutTokens(),
           "set image_out's num_patches to the image tokenizer's (" + tok.dir + ")");
      same("output image start id", d.markers().vision_start, c.image_out_start_token_id, rebuild);
      same("output image end id", d.markers().vision_end, c.image_out_end_token_id, rebuild);
    }
  }
  if (problems.empty()) return;
  std::string message = "data.train " + name + " does not fit the model:";
  for (const auto& p : problems) message += "\n  " + p;
  throw ConfigError(message);
}

}  // namespace loom::train
