#include "models/omni/omni_config.h"

#include <fstream>
#include <set>

#include "ops/base/error.h"

namespace loom::models {
namespace {

using json = nlohmann::json;

[[noreturn]] void Fail(const std::string& source, const std::string& what, const std::string& fix) {
  throw ConfigError(ErrorWithFix(source + ": " + what, fix));
}

// Top-level keys of a Qwen2VLConfig that are not the text model's.
const std::set<std::string> kVlKeys = {"model_type", "text_config", "vision_config", "image_token_id",
                                       "video_token_id", "vision_start_token_id", "vision_end_token_id",
                                       "vision_token_id", "architectures", "transformers_version", "dtype",
                                       "torch_dtype", "_name_or_path", "tie_word_embeddings"};
const std::set<std::string> kAudioKeys = {"model_type", "audio_config", "text_config", "audio_token_index",
                                          "audio_token_id", "architectures", "transformers_version", "dtype",
                                          "torch_dtype", "_name_or_path", "ignore_index", "tie_word_embeddings"};
const std::set<std::string> kLoomKeys = {"model_type", "components", "image_token_id", "video_token_id", "audio_token_id",
                                         "vision_start_token_id", "vision_end_token_id", "image_out_start_token_id",
                                         "image_out_end_token_id", "architectures", "transformers_version",
                                         "torch_dtype", "dtype"};

// A ConfigError for the first (key, id) outside [0, vocab).
void RequireInVocabulary(const std::string& source, int64_t vocab,
                         std::initializer_list<std::pair<const char*, int64_t>> ids, const std::string& fix) {
  for (const auto& [key, id] : ids) {
    if (id < 0 || id >= vocab) {
      Fail(source, std::string(key) + " " + std::to_string(id) + " is outside the vocabulary (size " +
                       std::to_string(vocab) + ")",
           fix);
    }
  }
}

int64_t TokenId(const json& j, const std::string& key, const std::string& source) {
  if (!j.contains(key) || !j[key].is_number_integer()) {
    Fail(source, "missing integer '" + key + "'", "add the " + key + " of the tokenizer to config.json");
  }
  return j[key].get<int64_t>();
}

void ReadVisionTokens(const json& j, const std::string& source, OmniConfig& c) {
  c.vision_tokens.image_token_id = TokenId(j, "image_token_id", source);
  c.vision_tokens.video_token_id = TokenId(j, "video_token_id", source);
  c.vision_tokens.vision_start_token_id = TokenId(j, "vision_start_token_id", source);
  c.vision_end_token_id = TokenId(j, "vision_end_token_id", source);
}

// Qwen2-VL's text config as the qwen2 decoder config Loom parses: HF writes
// M-RoPE as {"type": "default", "mrope_section": [...]} and keeps
// tie_word_embeddings at the top level.
json Qwen2VlTextAsQwen2(const json& top) {
  json text;
  if (top.contains("text_config")) {
    text = top["text_config"];
  } else {  // older layout: the text keys sit at the top level
    for (auto& [key, value] : top.items()) {
      if (!kVlKeys.count(key)) text[key] = value;
    }
  }
  text["model_type"] = "qwen2";
  if (!text.contains("tie_word_embeddings")) text["tie_word_embeddings"] = top.value("tie_word_embeddings", false);
  if (text.contains("rope_scaling") && text["rope_scaling"].is_object() && text["rope_scaling"].contains("mrope_section")) {
    text["rope_scaling"] = {{"type", "mrope"}, {"mrope_section", text["rope_scaling"]["mrope_section"]}};
  }
  return text;
}

OmniConfig FromQwen2Vl(const json& j, const std::string& source) {
  OmniConfig c;
  c.model_type = "qwen2_vl";
  for (auto& [key, value] : j.items()) {
    if (j.contains("text_config") && !kVlKeys.count(key)) {
      Fail(source, "unsupported Qwen2-VL key '" + key + "' = " + value.dump(),
           "remove it if it does not change the model, or move text keys into text_config");
    }
  }
  if (!j.contains("vision_config")) Fail(source, "Qwen2-VL config has no vision_config", "add the tower's config");
  c.llm = LlmConfigFromJson(Qwen2VlTextAsQwen2(j), source + " (text_config)");
  c.vision = Qwen2VisionConfigFromJson(j["vision_config"], source + " (vision_config)");
  ReadVisionTokens(j, source, c);
  return c;
}

OmniConfig FromQwen2Audio(const json& j, const std::string& source) {
  OmniConfig c;
  c.model_type = "qwen2_audio";
  for (auto& [key, value] : j.items()) {
    if (!kAudioKeys.count(key)) {
      Fail(source, "unsupported Qwen2-Audio key '" + key + "' = " + value.dump(), "remove it if it does not change the model");
    }
  }
  if (!j.contains("text_config")) Fail(source, "Qwen2-Audio config has no text_config", "add the LLM's config");
  json text = j["text_config"];
  text["model_type"] = text.value("model_type", std::string("qwen2"));
  if (!text.contains("tie_word_embeddings")) text["tie_word_embeddings"] = j.value("tie_word_embeddings", false);
  c.llm = LlmConfigFromJson(text, source + " (text_config)");
  json audio = j.value("audio_config", json::object());
  audio["model_type"] = "qwen2_audio_encoder";
  c.audio = AudioEncoderConfigFromJson(audio, source + " (audio_config)");
  c.audio_token_id = j.contains("audio_token_index") ? TokenId(j, "audio_token_index", source)
                                                     : TokenId(j, "audio_token_id", source);
  return c;
}

json ReadConfigJson(const std::string& dir, const std::string& source) {
  std::ifstream in(dir + "/config.json");
  if (!in) Fail(source, "cannot read " + dir + "/config.json", "point \"from\" at a model directory");
  auto j = json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object()) Fail(source, dir + "/config.json is not a JSON object", "fix that file");
  return j;
}

// Component `name`'s config, as a loom_omni component entry, from model
// directory `dir` (an LLM directory for "llm", an omni one for any part).
json ComponentConfigIn(const std::string& name, const std::string& dir, const std::string& source) {
  const json j = ReadConfigJson(dir, source);
  const std::string type = j.value("model_type", std::string());
  const std::string where = source + " (components." + name + " from " + dir + ")";
  if (!IsOmniModelType(type)) {
    if (name != "llm") {
      Fail(where, dir + " is a " + type + " model: it has no " + name + " component",
           "take " + name + " from a qwen2_vl, qwen2_audio or loom_omni directory");
    }
    return j;
  }
  OmniConfig part = OmniConfigFromJson(j, dir + "/config.json");
  if ((name == "vision" && !part.HasVision()) || (name == "audio" && !part.HasAudio())) {
    Fail(where, dir + " (" + type + ") has no " + name + " component", "take it from a directory that has one");
  }
  part.model_type = "loom_omni";  // written with a "components" object
  const json components = OmniConfigToJson(part)["components"];
  if (!components.contains(name)) Fail(where, "unknown component '" + name + "'", "components are: llm, vision, audio");
  return components[name];
}

OmniConfig FromLoomOmni(const json& j, const std::string& source) {
  OmniConfig c;
  c.model_type = "loom_omni";
  for (auto& [key, value] : j.items()) {
    if (!kLoomKeys.count(key)) Fail(source, "unsupported loom_omni key '" + key + "'", "remove it");
  }
  if (!j.contains("components") || !j["components"].is_object() || !j["components"].contains("llm")) {
    Fail(source, "loom_omni config has no components.llm", "add the foundation's config.json under components.llm");
  }
  for (auto& [name, given] : j["components"].items()) {
    json value = given;
    if (name == "image_out" && given.is_object() && given.contains("from")) {
      Fail(source, "components.image_out cannot be taken \"from\" a directory",
           "give the image decoder inline: a JanusVQVAEConfig (num_embeddings, embed_dim and num_patches of the VQ "
           "that encodes the data; projection_dim and image_token_embed_dim the LLM's hidden_size)");
    }
    if (given.is_object() && given.contains("from")) {
      if (given.size() != 1 || !given["from"].is_string()) {
        Fail(source, "components." + name + " has \"from\" and other keys",
             "give a component either inline or as {\"from\": \"DIR\"} alone");
      }
      const std::string dir = given["from"].get<std::string>();
      value = ComponentConfigIn(name, dir, source);
      c.weights_from[name] = dir;
    }
    if (name == "llm") {
      c.llm = LlmConfigFromJson(value, source + " (components.llm)");
    } else if (name == "vision") {
      c.vision = Qwen2VisionConfigFromJson(value, source + " (components.vision)");
    } else if (name == "audio") {
      c.audio = AudioEncoderConfigFromJson(value, source + " (components.audio)");
    } else if (name == "image_out") {
      c.image_out = JanusVqConfigFromJson(value, source + " (components.image_out)");
    } else {
      Fail(source, "unknown component '" + name + "'", "components are: llm, vision, audio, image_out");
    }
  }
  if (c.HasVision()) ReadVisionTokens(j, source, c);
  if (c.HasAudio()) c.audio_token_id = TokenId(j, "audio_token_id", source);
  if (c.HasImageOut()) {
    c.image_out_start_token_id = TokenId(j, "image_out_start_token_id", source);
    c.image_out_end_token_id = TokenId(j, "image_out_end_token_id", source);
  }
  return c;
}

}  // namespace

void OmniConfig::Validate(const std::string& source) const {
  llm.Validate(source);
  if (audio) {
    audio->Validate(source);
    if (audio_token_id < 0 || audio_token_id >= llm.vocab_size) {
      Fail(source, "audio_token_id " + std::to_string(audio_token_id) + " is outside the vocabulary (size " +
                       std::to_string(llm.vocab_size) + ")",
           "use the tokenizer's id for the audio placeholder");
    }
  }
  if (image_out) {
    const std::pair<const char*, int64_t> widths[] = {{"projection_dim", image_out->projection_dim},
                                                      {"image_token_embed_dim", image_out->image_token_embed_dim}};
    for (const auto& [key, width] : widths) {
      if (width != llm.hidden_size) {
        Fail(source, std::string("components.image_out ") + key + " " + std::to_string(width) +
                         " is not the LLM's hidden_size " + std::to_string(llm.hidden_size),
             std::string("set image_out's ") + key + " to " + std::to_string(llm.hidden_size));
      }
    }
    RequireInVocabulary(source, llm.vocab_size,
                        {{"image_out_start_token_id", image_out_start_token_id},
                         {"image_out_end_token_id", image_out_end_token_id}},
                        "use the tokenizer's id of the token that opens / closes a generated image");
  }
  if (!vision) return;
  vision->Validate(source);
  if (vision->hidden_size != llm.hidden_size) {
    Fail(source, "the vision tower's output width (vision hidden_size " + std::to_string(vision->hidden_size) +
                     ") is not the LLM's hidden_size " + std::to_string(llm.hidden_size),
         "set the vision config's hidden_size to the LLM's hidden_size");
  }
  if (llm.rope_scaling.type != "mrope") {
    Fail(source, "a vision model needs M-RoPE in its LLM (rope_scaling type '" + llm.rope_scaling.type + "')",
         "set the LLM's rope_scaling to {\"type\": \"mrope\", \"mrope_section\": [t, h, w]}");
  }
  RequireInVocabulary(source, llm.vocab_size,
                      {{"image_token_id", vision_tokens.image_token_id},
                       {"video_token_id", vision_tokens.video_token_id},
                       {"vision_start_token_id", vision_tokens.vision_start_token_id},
                       {"vision_end_token_id", vision_end_token_id}},
                      "use the tokenizer's id for it");
}

int64_t OmniConfig::NumParameters() const {
  const int64_t projector = audio ? audio->d_model * llm.hidden_size + llm.hidden_size : 0;
  return llm.NumParameters() + (vision ? vision->NumParameters() : 0) + (audio ? audio->NumParameters() + projector : 0) +
         ImageOutParameters();
}

int64_t OmniConfig::ImageOutParameters() const {
  if (!image_out) return 0;
  const auto& v = *image_out;
  const int64_t p = v.projection_dim;
  return v.num_embeddings * v.embed_dim + (v.embed_dim * p + p) + (v.num_hidden_layers - 1) * (p * p + p) +
         (v.image_token_embed_dim * p + p) + (p * v.num_embeddings + v.num_embeddings);
}

bool IsOmniModelType(const std::string& model_type) {
  return model_type == "qwen2_vl" || model_type == "qwen2_audio" || model_type == "loom_omni";
}

OmniConfig OmniConfigFromJson(const json& j, const std::string& source) {
  const std::string type = j.value("model_type", "");
  OmniConfig c;
  if (type == "qwen2_vl") {
    c = FromQwen2Vl(j, source);
  } else if (type == "qwen2_audio") {
    c = FromQwen2Audio(j, source);
  } else if (type == "loom_omni") {
    c = FromLoomOmni(j, source);
  } else {
    Fail(source, "model_type '" + type + "' is not an omni model", "use qwen2_vl, qwen2_audio or loom_omni");
  }
  c.Validate(source);
  return c;
}

OmniConfig LoadOmniConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) Fail(path, "cannot open", "pass a model directory holding config.json");
  json j;
  try {
    j = json::parse(in);
  } catch (const json::exception& e) {
    Fail(path, std::string("not valid JSON: ") + e.what(), "fix the file");
  }
  return OmniConfigFromJson(j, path);
}

json OmniConfigToJson(const OmniConfig& c) {
  json j;
  j["model_type"] = c.model_type;
  if (c.HasVision()) {
    j["image_token_id"] = c.vision_tokens.image_token_id;
    j["video_token_id"] = c.vision_tokens.video_token_id;
    j["vision_start_token_id"] = c.vision_tokens.vision_start_token_id;
    j["vision_end_token_id"] = c.vision_end_token_id;
  }
  json text = LlmConfigToJson(c.llm);
  if (c.model_type == "qwen2_audio") {
    j["architectures"] = {"Qwen2AudioForConditionalGeneration"};
    j["audio_token_index"] = c.audio_token_id;
    text.erase("architectures");
    j["text_config"] = text;
    j["audio_config"] = AudioEncoderConfigToJson(*c.audio);
    return j;
  }
  if (c.model_type == "qwen2_vl") {
    j["architectures"] = {"Qwen2VLForConditionalGeneration"};
    text["model_type"] = "qwen2_vl_text";
    text.erase("architectures");
    j["tie_word_embeddings"] = c.llm.tie_word_embeddings;
    j["text_config"] = text;
    j["vision_config"] = Qwen2VisionConfigToJson(*c.vision);
  } else {
    j["components"]["llm"] = text;
    if (c.HasVision()) j["components"]["vision"] = Qwen2VisionConfigToJson(*c.vision);
    if (c.HasAudio()) j["components"]["audio"] = AudioEncoderConfigToJson(*c.audio), j["audio_token_id"] = c.audio_token_id;
    if (c.HasImageOut()) {
      j["components"]["image_out"] = JanusVqConfigToJson(*c.image_out);
      j["image_out_start_token_id"] = c.image_out_start_token_id;
      j["image_out_end_token_id"] = c.image_out_end_token_id;
    }
  }
  return j;
}

}  // namespace loom::models
