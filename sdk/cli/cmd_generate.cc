// `loom generate --model DIR (--prompt TEXT | --ids 1,2,3) --max-new-tokens N`
// [--temperature T --top-k K --top-p P --seed S] [--no-kv-cache]
// and, for an omni model directory, `--image PATH` / `--audio PATH` with an
// optional `--prompt`: a user turn in the chat template the model was
// trained with (DIR/loom_chat.json), the reply decoded until <|im_end|>.
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
#include "sdk/data/tokenizer.h"

namespace loom::cli {
namespace {

std::string ModelTypeIn(const std::string& dir) {
  std::ifstream in(dir + "/config.json");
  const auto j = nlohmann::json::parse(in, nullptr, false);
  return j.is_object() ? j.value("model_type", std::string()) : "";
}

// The omni path: the reply to a user turn holding the media and the text.
void GenerateOmni(const std::string& dir, const data::Tokenizer& tokenizer, const std::string& image,
                  const std::string& audio, const std::string& text, models::GenerateOptions options) {
  const std::string chat_file = dir + "/loom_chat.json";
  const auto processing = std::filesystem::exists(chat_file) ? data::ReadChatProcessing(chat_file) : data::ChatProcessing{};
  const auto prompt = data::BuildChatPrompt(tokenizer, processing, image, audio, text);
  auto model = models::LoadOmniModel(dir);
  options.stop_id = prompt.stop_id;
  const auto out = models::GenerateOmni(*model, prompt.ids, prompt.media, options);
  std::vector<int32_t> fresh(out.begin() + static_cast<long>(prompt.ids.size()), out.end());
  if (!fresh.empty() && fresh.back() == prompt.stop_id) fresh.pop_back();
  std::cout << "prompt: " << prompt.ids.size() << " tokens" << (image.empty() ? "" : ", image " + image)
            << (audio.empty() ? "" : ", audio " + audio) << (text.empty() ? "" : ", text \"" + text + "\"") << "\n";
  std::cout << "reply: " << tokenizer.Decode(fresh) << "\n";
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
      GenerateOmni(*model_dir, *tokenizer, *image, *audio, *prompt, o);
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
