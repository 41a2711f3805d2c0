#include "sdk/data/chat_dataset.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <stb_image.h>

#include "models/audio/audio_encoder.h"
#include "ops/base/error.h"
#include "sdk/data/audio_decode.h"
#include "sdk/data/dataset_builder.h"
#include "sdk/data/image_codes.h"

namespace loom::data {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr int kChatVersion = 1;

json MarkersToJson(const ChatMarkers& m) {
  return {{"image_pad", m.image_pad},     {"vision_start", m.vision_start}, {"vision_end", m.vision_end},
          {"audio_pad", m.audio_pad},     {"audio_start", m.audio_start},   {"audio_end", m.audio_end}};
}

ChatMarkers MarkersOf(const Tokenizer& tok, const ChatTemplate& t) {
  const auto id = [&tok](const std::string& s) { return tok.TokenToId(s).value_or(-1); };
  return {id(t.image_pad), id(t.vision_start), id(t.vision_end), id(t.audio_pad), id(t.audio_start), id(t.audio_end)};
}

json SampleToJson(const ChatTokens& t, const std::vector<std::vector<int32_t>>& codes) {
  json labels = json::array();
  for (size_t k = 0; k < t.trainable.size(); ++k) {
    if (!t.trainable[k]) continue;
    if (!labels.empty() && labels.back()[1].get<int64_t>() == static_cast<int64_t>(k)) {
      labels.back()[1] = static_cast<int64_t>(k + 1);
    } else {
      labels.push_back({static_cast<int64_t>(k), static_cast<int64_t>(k + 1)});
    }
  }
  json media = json::array();
  for (const auto& m : t.media) {
    media.push_back({{"kind", m.kind == MediaKind::kImage ? "image" : "audio"}, {"path", m.path}, {"offset", m.offset},
                     {"tokens", m.tokens}});
  }
  json image_out = json::array();
  for (size_t k = 0; k < t.image_out.size(); ++k) {
    const auto& m = t.image_out[k];
    image_out.push_back({{"path", m.path}, {"offset", m.offset}, {"tokens", m.tokens}, {"codes", codes[k]}});
  }
  return {{"labels", labels}, {"media", media}, {"image_out", image_out}};
}

// One output dataset being written.
struct Output {
  std::string prefix;
  std::unique_ptr<TokenDatasetWriter> writer;
  json samples = json::array();
};

}  // namespace

int64_t ImageTokens(const std::string& path, const Qwen2VlImageOptions& o) {
  int w = 0, h = 0, channels = 0;
  if (!stbi_info(path.c_str(), &w, &h, &channels)) {
    throw DataError(ErrorWithFix(path + ": cannot read the image (" + std::string(stbi_failure_reason()) + ")",
                                 "use an intact PNG, JPEG, BMP or GIF file"));
  }
  const auto [rh, rw] = SmartResize(h, w, o);
  return (rh / o.patch_size) * (rw / o.patch_size) / (o.merge_size * o.merge_size);
}

int64_t AudioTokens(const std::string& path, const WhisperFeatureOptions& o, const std::string& audio_encoder) {
  const auto wave = DecodeAudioFile(path);
  const int64_t samples = Resample(wave.samples, wave.sample_rate, o.sampling_rate).numel();
  const int64_t chunk = o.chunk_seconds * o.sampling_rate;
  const int64_t frames = (std::min(samples, chunk) + o.hop_length - 1) / o.hop_length;
  models::AudioEncoderConfig encoder;
  encoder.model_type = audio_encoder;
  return models::AudioOutputLengths(encoder, at::tensor({frames}, at::kLong)).second.item<int64_t>();
}

bool ChatDataset::Exists(const std::string& prefix) { return fs::exists(prefix + ".chat.json"); }

ChatDataset ChatDataset::Open(const std::string& prefix) {
  ChatDataset d(TokenDataset::Open(prefix));
  const std::string path = prefix + ".chat.json";
  std::ifstream in(path);
  if (!in) {
    throw ConfigError(ErrorWithFix("cannot read " + path, "build the dataset with `loom data build --format chat`"));
  }
  const auto j = json::parse(in, nullptr, false);
  if (j.is_discarded() || j.value("format", "") != "loom.chat" || j.value("version", 0) != kChatVersion) {
    throw ConfigError(ErrorWithFix(path + " is not a loom.chat v" + std::to_string(kChatVersion) + " file",
                                   "rebuild the dataset with `loom data build --format chat`"));
  }
  try {
    const auto& m = j.at("markers");
    d.markers_ = {m.at("image_pad"), m.at("vision_start"), m.at("vision_end"),
                  m.at("audio_pad"), m.at("audio_start"),  m.at("audio_end")};
    d.processing_ = ChatProcessingFromJson(j, path);
    for (const auto& s : j.at("samples")) {
      ChatSample sample;
      for (const auto& r : s.at("labels")) sample.labels.emplace_back(r.at(0), r.at(1));
      for (const auto& m2 : s.at("media")) {
        sample.media.push_back({m2.at("kind") == "image" ? MediaKind::kImage : MediaKind::kAudio, m2.at("path"),
                                m2.at("offset"), m2.at("tokens")});
      }
      for (const auto& m2 : s.value("image_out", json::array())) {
        sample.image_out.push_back({m2.at("path"), m2.at("offset"), m2.at("codes").get<std::vector<int32_t>>()});
      }
      d.samples_.push_back(std::move(sample));
    }
    if (j.contains("image_tokenizer")) {
      const auto& t = j.at("image_tokenizer");
      d.image_tokenizer_ = {t.at("dir"), t.at("num_embeddings"), t.at("tokens")};
    }
  } catch (const json::exception& e) {
    throw ConfigError(ErrorWithFix(path + ": " + e.what(), "rebuild the dataset with `loom data build --format chat`"));
  }
  if (static_cast<int64_t>(d.samples_.size()) != d.tokens_.n_docs()) {
    throw ConfigError(ErrorWithFix(path + " describes " + std::to_string(d.samples_.size()) + " samples but " + prefix +
                                       " holds " + std::to_string(d.tokens_.n_docs()) + " documents",
                                   "rebuild the dataset (its files come from different builds)"));
  }
  return d;
}

ChatBuildReport BuildChatDataset(const Tokenizer& tok, const ChatBuildOptions& o) {
  if (o.inputs.empty() || o.output.empty()) {
    throw ConfigError(ErrorWithFix("a chat dataset needs --input files and --output", "pass both"));
  }
  if (o.audio_encoder != "qwen2_audio_encoder" && o.audio_encoder != "whisper") {
    throw ConfigError(ErrorWithFix("audio encoder '" + o.audio_encoder + "'", "use qwen2_audio_encoder or whisper"));
  }
  std::unique_ptr<ImageCodec> codec;
  if (!o.image_tokenizer.empty()) codec = std::make_unique<ImageCodec>(o.image_tokenizer);
  ChatBuildReport report;
  std::map<std::string, int64_t> skipped;
  const auto skip = [&](const std::string& reason, const std::string& where, const std::string& why) {
    ++skipped[reason];
    ++report.n_skipped;
    if (report.first_issues.size() < 20) report.first_issues.push_back(where + ": " + why);
  };
  TokenDatasetInfo info;
  info.tokenizer = tok.path();
  info.vocab_size = tok.vocab_size();
  info.eos_id = tok.eos_id();
  for (const auto& f : o.inputs) info.source += (info.source.empty() ? "" : ", ") + f;
  std::vector<Output> outs;
  const bool split = o.eval_fraction > 0;
  for (const std::string suffix : split ? std::vector<std::string>{"-train", "-eval"} : std::vector<std::string>{""}) {
    outs.push_back({o.output + suffix, std::make_unique<TokenDatasetWriter>(o.output + suffix, info)});
  }
  for (const auto& file : o.inputs) {
    std::ifstream in(file);
    if (!in) {
      skip("unreadable input", file, "cannot open the file");
      continue;
    }
    const std::string base = fs::path(file).parent_path().string();
    std::string line;
    for (int64_t n = 1; std::getline(in, line); ++n) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      const std::string where = file + " line " + std::to_string(n);
      const auto j = json::parse(line, nullptr, false);
      if (j.is_discarded()) {
        skip("malformed JSON", where, "not valid JSON");
        continue;
      }
      ChatTokens tokens;
      std::vector<std::vector<int32_t>> codes;
      try {
        const auto conv = ParseConversation(j, base, where);
        tokens = TokenizeChat(conv, tok, o.chat, [&](const ContentPart& p) -> int64_t {
          if (p.kind == MediaKind::kImageOut) {
            if (!codec) {
              throw ConfigError(ErrorWithFix(where + " has an output image (" + p.text + ") but no image tokenizer was given",
                                             "pass --image-tokenizer DIR (a janus_vqgan model: `loom train` on one makes it)"));
            }
            return codec->tokens();
          }
          return p.kind == MediaKind::kImage ? ImageTokens(p.text, o.image) : AudioTokens(p.text, o.audio, o.audio_encoder);
        });
        for (const auto& m : tokens.image_out) codes.push_back(codec->Encode(m.path));  // DataError: unreadable
      } catch (const DataError& e) {
        const std::string why = e.what();
        skip(why.find("image") != std::string::npos   ? "unreadable image"
             : why.find("audio") != std::string::npos ? "unreadable audio"
                                                      : "malformed sample",
             where, why);
        continue;
      }
      Output& out = outs[split && SplitFraction(line) < o.eval_fraction ? 1 : 0];
      out.writer->Append(tokens.ids);
      out.samples.push_back(SampleToJson(tokens, codes));
      report.n_images_out += static_cast<int64_t>(tokens.image_out.size());
      ++report.n_samples;
      report.n_tokens += static_cast<int64_t>(tokens.ids.size()) + 1;
      for (const auto& m : tokens.media) (m.kind == MediaKind::kImage ? report.n_images : report.n_clips) += 1;
    }
  }
  for (const auto& [reason, count] : skipped) report.skipped_by_reason.emplace_back(reason, count);
  for (const auto& out : outs) {
    if (out.writer->n_docs() == 0) {
      std::string first;
      for (const auto& issue : report.first_issues) first += "\n  " + issue;
      throw ConfigError(ErrorWithFix("the chat dataset " + out.prefix + " would be empty (" +
                                         std::to_string(report.n_skipped) + " samples skipped)" + first,
                                     "fix the inputs, or lower --eval-fraction"));
    }
  }
  const ChatMarkers markers = MarkersOf(tok, o.chat);
  for (auto& out : outs) {
    out.writer->Finish();
    json meta = ChatProcessingToJson({o.chat, o.image, o.audio, o.audio_encoder});
    meta["format"] = "loom.chat";
    meta["version"] = kChatVersion;
    meta["markers"] = MarkersToJson(markers);
    if (report.n_images_out > 0) {
      meta["image_tokenizer"] = {{"dir", fs::absolute(codec->dir()).lexically_normal().string()},
                                 {"num_embeddings", codec->config().num_embeddings},
                                 {"tokens", codec->tokens()}};
    }
    meta["samples"] = std::move(out.samples);
    std::ofstream(out.prefix + ".chat.json.tmp") << meta.dump();
    fs::rename(out.prefix + ".chat.json.tmp", out.prefix + ".chat.json");
    report.prefixes.push_back(out.prefix);
  }
  return report;
}

}  // namespace loom::data
