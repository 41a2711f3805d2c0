// `loom generate --model DIR (--prompt TEXT | --ids 1,2,3) --max-new-tokens N`
#include <filesystem>
#include <iostream>
#include <sstream>

#include <CLI/CLI.hpp>

#include "models/llm/decoder_lm.h"
#include "models/llm/generate.h"
#include "ops/base/error.h"
#include "sdk/cli/commands.h"
#include "sdk/data/tokenizer.h"

namespace loom::cli {

void AddGenerateCommand(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand("generate", "Greedy-decode from a Hugging Face model directory");
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
  cmd->add_option("--tokenizer", *tokenizer_path, "tokenizer.json (default: MODEL/tokenizer.json)");
  cmd->add_option("--max-new-tokens", *max_new, "Tokens to generate")->check(CLI::PositiveNumber);
  cmd->add_option("--stop-at-eos", *stop_at_eos, "Stop after the tokenizer's eos token");
  cmd->callback([=] {
    if (prompt->empty() && ids_text->empty()) {
      throw ConfigError(ErrorWithFix("no prompt given", "pass --prompt TEXT or --ids 1,2,3"));
    }
    std::string tok_path = *tokenizer_path;
    if (tok_path.empty() && std::filesystem::exists(*model_dir + "/tokenizer.json")) tok_path = *model_dir + "/tokenizer.json";
    std::unique_ptr<data::Tokenizer> tokenizer;
    if (!tok_path.empty()) tokenizer = std::make_unique<data::Tokenizer>(data::Tokenizer::FromFile(tok_path));
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
    const int64_t eos = (*stop_at_eos && tokenizer) ? tokenizer->eos_id() : -1;
    const auto out = models::GreedyGenerate(*model, ids, *max_new, eos);
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
