// `loom generate --model DIR (--prompt TEXT | --ids 1,2,3) --max-new-tokens N`
// [--temperature T --top-k K --top-p P --seed S] [--no-kv-cache]
// and, for an omni model directory, `--image PATH` / `--audio PATH` with an
// optional `--prompt`: a user turn in the chat template the model was
// trained with (DIR/loom_chat.json), the reply decoded until <|im_end|>.
// A model with an image decoder (components.image_out) draws: each image in
// the reply (its start token, num_patches^2 codes, its end token) is decoded
// by the image tokenizer (--image-tokenizer, default DIR/image_tokenizer)
// into a PNG under --images-out; --draw opens the reply with the image start
// token; --cfg-scale S > 1 guides the codes with an unconditional prompt
// (the text's tokens replaced by the tokenizer's eos) in the same batch.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include <CLI/CLI.hpp>

#include "models/llm/decoder_lm.h"
#include "models/llm/generate.h"
#include "models/omni/omni_generate.h"
#include "ops/base/error.h"
#include "sdk/cli/commands.h"
#include "sdk/data/chat_processing.h"
#include "sdk/data/image_codes.h"
#include "sdk/data/tokenizer.h"

namespace loom::cli {
namespace {

std::string ModelTypeIn(const std::string& dir) {
  std::ifstream in(dir + "/config.json");
  const auto j = nlohmann::json::parse(in, nullptr, false);
  return j.is_object() ? j.value("model_type", std::string()) : "";
}

struct DrawOptions {
  std::string images_out = "images", image_tokenizer;  // "" = MODEL/image_tokenizer
  bool draw = false;
  double cfg_scale = 1.0;
};

// The prompt with the user text's tokens replaced by `filler`: the ids the
// prompt and the prompt around another text do not share at either end.
std::vector<int64_t> Unconditional(const std::vector<int64_t>& with_text, const std::vector<int64_t>& without,
                                   int64_t filler) {
  const size_t shorter = std::min(with_text.size(), without.size());
  size_t prefix = 0, suffix = 0;
  while (prefix < shorter && with_text[prefix] == without[prefix]) ++prefix;
  while (suffix < shorter - prefix && with_text[with_text.size() - 1 - suffix] == without[without.size() - 1 - suffix]) ++suffix;
  std::vector<int64_t> out = with_text;
  for (size_t i = prefix; i < with_text.size() - suffix; ++i) out[i] = filler;
  return out;
}

// Each complete image of `reply` (start, `tokens` codes, end) as a PNG; the
// text with "<image PATH>" in their place.
std::string WriteImages(const std::vector<int64_t>& reply, const models::OmniConfig& c, const data::Tokenizer& tokenizer,
                        const std::string& model_dir, const DrawOptions& d) {
  const int64_t v = c.ImageCodeOffset();
  std::string text;
  std::vector<int32_t> run;
  const auto flush = [&] {
    text += tokenizer.Decode(run);
    run.clear();
  };
  std::unique_ptr<data::ImageCodec> codec;
  int written = 0;
  for (size_t i = 0; i < reply.size(); ++i) {
    if (reply[i] < v) {
      if (reply[i] != c.image_out_start_token_id && reply[i] != c.image_out_end_token_id) run.push_back(static_cast<int32_t>(reply[i]));
      continue;
    }
    flush();
    size_t end = i;
    while (end < reply.size() && reply[end] >= v) ++end;
    if (static_cast<int64_t>(end - i) != c.ImageOutTokens()) {
      text += "<an image cut at " + std::to_string(end - i) + " of " + std::to_string(c.ImageOutTokens()) + " codes>";
    } else {
      if (!codec) {
        const std::string dir = d.image_tokenizer.empty() ? model_dir + "/image_tokenizer" : d.image_tokenizer;
        codec = std::make_unique<data::ImageCodec>(dir);
        if (codec->tokens() != c.ImageOutTokens() || codec->config().num_embeddings != c.image_out->num_embeddings) {
          throw ConfigError(ErrorWithFix(dir + " has " + std::to_string(codec->config().num_embeddings) + " codes, " +
                                             std::to_string(codec->tokens()) + " per image; the model draws " +
                                             std::to_string(c.image_out->num_embeddings) + ", " +
                                             std::to_string(c.ImageOutTokens()),
                                         "pass the image tokenizer the training data was encoded with"));
        }
        std::filesystem::create_directories(d.images_out);
      }
      std::vector<int64_t> codes;
      for (size_t k = i; k < end; ++k) codes.push_back(reply[k] - v);
      const auto pixels = codec->Decode(at::tensor(codes, at::kLong).unsqueeze(0));  // (1, 3, S, S)
      const std::string path = (std::filesystem::path(d.images_out) / ("image_" + std::to_string(written++) + ".png")).string();
      data::WritePng(pixels[0], path);
      text += "<image " + path + ">";
    }
    i = end - 1;
  }
  flush();
  return text;
}

// The omni path: the reply to a user turn holding the media and the text.
void GenerateOmni(const std::string& dir, const data::Tokenizer& tokenizer, const std::string& image,
                  const std::string& audio, const std::string& text, models::GenerateOptions options,
                  const DrawOptions& draw) {
  const std::string chat_file = dir + "/loom_chat.json";
  const auto processing = std::filesystem::exists(chat_file) ? data::ReadChatProcessing(chat_file) : data::ChatProcessing{};
  auto prompt = data::BuildChatPrompt(tokenizer, processing, image, audio, text);
  auto model = models::LoadOmniModel(dir);
  const auto& c = model->config();
  if ((draw.draw || draw.cfg_scale != 1.0) && !c.HasImageOut()) {
    throw ConfigError(ErrorWithFix(dir + " has no image decoder: it cannot --draw or take --cfg-scale",
                                   "train a model with components.image_out, or drop those options"));
  }
  if (draw.cfg_scale != 1.0) {
    if (text.empty()) throw ConfigError(ErrorWithFix("--cfg-scale without --prompt", "pass the text to draw from"));
    // The same prompt around another text ("§", sharing no token with a
    // caption's start or end): the ids that differ are the text's.
    const auto without = data::BuildChatPrompt(tokenizer, processing, image, audio, "\u00a7").ids;
    options.image.cfg_scale = draw.cfg_scale;
    options.image.unconditional = Unconditional(prompt.ids, without, tokenizer.eos_id());
  }
  if (draw.draw) {
    prompt.ids.push_back(c.image_out_start_token_id);
    if (!options.image.unconditional.empty()) options.image.unconditional.push_back(c.image_out_start_token_id);
  }
  options.stop_id = prompt.stop_id;
  const auto out = models::GenerateOmni(*model, prompt.ids, prompt.media, options);
  std::vector<int64_t> fresh(out.begin() + static_cast<long>(prompt.ids.size()) - (draw.draw ? 1 : 0), out.end());
  if (!fresh.empty() && fresh.back() == prompt.stop_id) fresh.pop_back();
  std::cout << "prompt: " << prompt.ids.size() << " tokens" << (image.empty() ? "" : ", image " + image)
            << (audio.empty() ? "" : ", audio " + audio) << (text.empty() ? "" : ", text \"" + text + "\"") << "\n";
  if (!c.HasImageOut()) {
    std::cout << "reply: " << tokenizer.Decode(std::vector<int32_t>(fresh.begin(), fresh.end())) << "\n";
    return;
  }
  std::cout << "reply: " << WriteImages(fresh, c, tokenizer, dir, draw) << "\n";
}

}  // namespace

void AddGenerateCommand(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand("generate", "Generate from a model directory (text, or an omni model's reply to an image/clip): greedy or sampled, KV-cached");
  auto model_dir = std::make_shared<std::string>();
  auto prompt = std::make_shared<std::string>();
  auto ids_text = std::make_shared<std::string>();
  auto tokenizer_path = std::make_shared<std::string>();
  auto max_new = std::make_shared<int64_t>(32);
  auto stop_at_eos = std::make_shared<bool>(true);
  cmd->add_option("--model", *model_dir, "Model directory (config.json + safetensors)")->required();
  auto* p = cmd->add_option("--prompt", *prompt, "Prompt text (needs a tokenizer)");
  auto* i = cmd->add_option("--ids", *ids_text, "Prompt token ids, comma-separated");
  p->excludes(i);
  auto image = std::make_shared<std::string>();
  auto audio = std::make_shared<std::string>();
  cmd->add_option("--image", *image, "Omni models: an image in the user turn");
  cmd->add_option("--audio", *audio, "Omni models: an audio clip in the user turn");
  cmd->add_option("--tokenizer", *tokenizer_path, "tokenizer.json (default: MODEL/tokenizer.json)");
  cmd->add_option("--max-new-tokens", *max_new, "Tokens to generate")->check(CLI::PositiveNumber);
  cmd->add_option("--stop-at-eos", *stop_at_eos, "Stop after the tokenizer's eos token");
  auto options = std::make_shared<models::GenerateOptions>();
  auto no_cache = std::make_shared<bool>(false);
  cmd->add_option("--temperature", options->sampling.temperature, "0 = greedy (default); > 0 samples softmax(logits / T)");
  cmd->add_option("--top-k", options->sampling.top_k, "Sample among the k most likely tokens (0 = all)");
  cmd->add_option("--top-p", options->sampling.top_p, "Sample among the smallest set reaching probability p (1 = all)");
  cmd->add_option("--seed", options->sampling.seed, "The sampler's seed (same seed, same tokens)");
  cmd->add_flag("--no-kv-cache", *no_cache, "Recompute the whole prefix every token (the cache's reference; slower)");
  auto draw = std::make_shared<DrawOptions>();
  cmd->add_option("--images-out", draw->images_out, "Image-decoder models: where generated images go as PNGs");
  cmd->add_option("--image-tokenizer", draw->image_tokenizer, "The VQ that decodes codes (default: MODEL/image_tokenizer)");
  cmd->add_flag("--draw", draw->draw, "Open the reply with the image start token (the model then draws an image)");
  cmd->add_option("--cfg-scale", draw->cfg_scale, "Classifier-free guidance on image codes (1 = off; e.g. 3)");
  cmd->callback([=] {
    models::GenerateOptions o = *options;
    o.max_new_tokens = *max_new;
    o.kv_cache = !*no_cache;
    models::ValidateSampling(o.sampling);
    const bool omni = models::IsOmniModelType(ModelTypeIn(*model_dir));
    if (!omni && (!image->empty() || !audio->empty())) {
      throw ConfigError(ErrorWithFix(*model_dir + " is a text model (model_type '" + ModelTypeIn(*model_dir) +
                                         "'): it takes no --image or --audio",
                                     "pass an omni model directory (a loom_omni, qwen2_vl or qwen2_audio export)"));
    }
    if (!omni && (draw->draw || draw->cfg_scale != 1.0)) {
      throw ConfigError(ErrorWithFix(*model_dir + " is a text model: it cannot --draw or take --cfg-scale",
                                     "pass an omni model directory with components.image_out"));
    }
    if (prompt->empty() && ids_text->empty() && image->empty() && audio->empty()) {
      throw ConfigError(ErrorWithFix("no prompt given", omni ? "pass --image, --audio and/or --prompt"
                                                             : "pass --prompt TEXT or --ids 1,2,3"));
    }
    std::string tok_path = *tokenizer_path;
    if (tok_path.empty() && std::filesystem::exists(*model_dir + "/tokenizer.json")) tok_path = *model_dir + "/tokenizer.json";
    std::unique_ptr<data::Tokenizer> tokenizer;
    if (!tok_path.empty()) tokenizer = std::make_unique<data::Tokenizer>(data::Tokenizer::FromFile(tok_path));
    if (omni) {
      if (!tokenizer) {
        throw ConfigError(ErrorWithFix("an omni prompt needs a tokenizer", "pass --tokenizer PATH (or keep MODEL/tokenizer.json)"));
      }
      if (!ids_text->empty()) throw ConfigError(ErrorWithFix("--ids with an omni model", "pass --prompt TEXT"));
      GenerateOmni(*model_dir, *tokenizer, *image, *audio, *prompt, o, *draw);
      *exit_code = 0;
      return;
    }
    std::vector<int64_t> ids;
    if (!prompt->empty()) {
      if (!tokenizer) throw ConfigError(ErrorWithFix("--prompt needs a tokenizer", "pass --tokenizer PATH or use --ids"));
      for (int32_t t : tokenizer->Encode(*prompt)) ids.push_back(t);
    } else {
      std::stringstream ss(*ids_text);
      std::string item;
      while (std::getline(ss, item, ',')) {
        try {
          ids.push_back(std::stoll(item));
        } catch (const std::exception&) {
          throw ConfigError(ErrorWithFix("--ids: '" + item + "' is not an integer", "pass ids like 1,2,3"));
        }
      }
    }
    auto model = models::LoadDecoderLM(*model_dir);
    for (int64_t id : ids) {
      if (id < 0 || id >= model->config().vocab_size) {
        throw ConfigError(ErrorWithFix("token id " + std::to_string(id) + " is outside the vocab (" +
                                           std::to_string(model->config().vocab_size) + ")",
                                       "pass ids of this model's tokenizer"));
      }
    }
    o.stop_id = (*stop_at_eos && tokenizer) ? tokenizer->eos_id() : -1;
    const auto out = models::Generate(*model, ids, o);
    std::cout << "ids:";
    for (size_t k = 0; k < out.size(); ++k) std::cout << (k ? "," : " ") << out[k];
    std::cout << "\n";
    if (tokenizer) {
      std::vector<int32_t> all(out.begin(), out.end()), fresh(out.begin() + static_cast<long>(ids.size()), out.end());
      std::cout << "prompt: " << tokenizer->Decode(std::vector<int32_t>(all.begin(), all.begin() + static_cast<long>(ids.size()))) << "\n";
      std::cout << "completion: " << tokenizer->Decode(fresh) << "\n";
    }
    *exit_code = 0;
  });
}

LOOM_REGISTER_COMMAND(45, AddGenerateCommand);

}  // namespace loom::cli
