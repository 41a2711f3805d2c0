// `loom data build`: tokenize JSONL or text files into a token dataset, or
//   (--format chat) conversations with images and audio into a chat dataset
//   (sdk/data/chat_dataset.h).
// `loom data inspect PREFIX`: print a dataset's metadata and first tokens
//   (a chat dataset: also its labels and media).
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "sdk/cli/commands.h"
#include "sdk/data/chat_dataset.h"
#include "sdk/data/dataset_builder.h"
#include "sdk/data/token_dataset.h"
#include "sdk/data/tokenizer.h"

namespace loom::cli {
namespace {

struct BuildArgs {
  std::string tokenizer;
  std::string format = "auto";
  data::DatasetBuildOptions options;
  data::ChatBuildOptions chat;  // --format chat
};

struct InspectArgs {
  std::string prefix;
  std::string tokenizer;
  int64_t n_tokens = 32;
};

// 1234567 -> "1,234,567".
std::string Grouped(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

void RunChatBuild(const data::Tokenizer& tokenizer, BuildArgs args) {
  args.chat.inputs = args.options.inputs;
  args.chat.output = args.options.output;
  args.chat.eval_fraction = args.options.eval_fraction;
  const auto report = data::BuildChatDataset(tokenizer, args.chat);
  for (const auto& prefix : report.prefixes) std::cout << "wrote " << prefix << ".{tokens,docs,json,chat.json}\n";
  for (const auto& issue : report.first_issues) std::cout << "skipped " << issue << "\n";
  std::cout << "loom data build: conversations " << Grouped(report.n_samples) << ", tokens " << Grouped(report.n_tokens)
            << ", images " << Grouped(report.n_images) << ", audio clips " << Grouped(report.n_clips)
            << (report.n_images_out > 0 ? ", output images " + Grouped(report.n_images_out) : std::string()) << ", skipped "
            << Grouped(report.n_skipped);
  for (const auto& [reason, count] : report.skipped_by_reason) std::cout << " (" << reason << ": " << count << ")";
  std::cout << "\n";
}

void RunBuild(const BuildArgs& args) {
  const auto tokenizer = data::Tokenizer::FromFile(args.tokenizer);
  if (args.format == "chat") {
    RunChatBuild(tokenizer, args);
    return;
  }
  auto options = args.options;
  options.format = data::ParseInputFormat(args.format);
  const auto report = data::BuildTokenDataset(tokenizer, options);
  for (size_t i = 0; i < report.prefixes.size(); ++i) {
    std::cout << "wrote " << report.prefixes[i] << ".{tokens,docs,json}: " << Grouped(report.datasets[i].n_docs)
              << " docs, " << Grouped(report.datasets[i].n_tokens) << " tokens\n";
  }
  for (const auto& issue : report.issues) {
    std::cout << "skipped " << issue.file << (issue.line ? ":" + std::to_string(issue.line) : "") << ": "
              << issue.reason << "\n";
  }
  if (report.n_skipped > static_cast<int64_t>(report.issues.size())) {
    std::cout << "... and " << (report.n_skipped - static_cast<int64_t>(report.issues.size())) << " more skipped\n";
  }
  char rate[64];
  std::snprintf(rate, sizeof(rate), "%.2f s, %.0f tokens/s, %.1f MB/s", report.seconds,
                report.seconds > 0 ? static_cast<double>(report.n_tokens) / report.seconds : 0.0,
                report.seconds > 0 ? static_cast<double>(report.n_bytes) / report.seconds / 1e6 : 0.0);
  std::cout << "loom data build: docs " << Grouped(report.n_docs) << ", tokens " << Grouped(report.n_tokens)
            << ", skipped " << Grouped(report.n_skipped) << "; " << rate << "\n";
}

void RunInspect(const InspectArgs& args) {
  const auto ds = data::TokenDataset::Open(args.prefix);
  const auto& info = ds.info();
  int64_t shortest = INT64_MAX, longest = 0;
  for (int64_t i = 0; i < ds.n_docs(); ++i) {
    shortest = std::min(shortest, ds.DocLength(i));
    longest = std::max(longest, ds.DocLength(i));
  }
  std::cout << "dataset " << args.prefix << "\n"
            << "  docs " << Grouped(info.n_docs) << ", tokens " << Grouped(info.n_tokens) << " (doc length min "
            << shortest << ", mean " << info.n_tokens / info.n_docs << ", max " << longest << ")\n"
            << "  vocab_size " << info.vocab_size << ", eos_id " << info.eos_id << "\n"
            << "  tokenizer " << info.tokenizer << "\n"
            << "  source " << info.source << "\n";
  const auto first = ds.Doc(0).first(static_cast<size_t>(std::clamp<int64_t>(args.n_tokens, 0, ds.DocLength(0))));
  std::cout << "  doc 0, first " << first.size() << " ids:";
  for (const int32_t id : first) std::cout << " " << id;
  std::cout << "\n";
  if (!args.tokenizer.empty()) {
    const auto tokenizer = data::Tokenizer::FromFile(args.tokenizer);
    std::cout << "  doc 0, first " << first.size() << " tokens decoded: \"" << tokenizer.Decode(first) << "\"\n";
  }
  if (!data::ChatDataset::Exists(args.prefix)) return;
  const auto chat = data::ChatDataset::Open(args.prefix);
  int64_t labels = 0, images = 0, clips = 0, media_tokens = 0;
  for (int64_t d = 0; d < chat.n_docs(); ++d) {
    for (const auto& [lo, hi] : chat.sample(d).labels) labels += hi - lo;
    for (const auto& m : chat.sample(d).media) {
      (m.kind == data::MediaKind::kImage ? images : clips) += 1;
      media_tokens += m.tokens;
    }
  }
  std::cout << "  chat: " << Grouped(labels) << " label tokens (assistant replies), " << Grouped(images) << " images, "
            << Grouped(clips) << " audio clips, " << Grouped(media_tokens) << " media placeholder tokens; audio encoder "
            << chat.audio_encoder() << ", " << chat.audio_options().n_mels << " mel bins\n";
  if (chat.HasImageOut()) {
    int64_t drawn = 0;
    for (int64_t d = 0; d < chat.n_docs(); ++d) drawn += static_cast<int64_t>(chat.sample(d).image_out.size());
    std::cout << "  output images: " << Grouped(drawn) << ", " << chat.image_tokenizer().tokens << " codes each of "
              << chat.image_tokenizer().num_embeddings << " (image tokenizer " << chat.image_tokenizer().dir << ")\n";
  }
  for (const auto& m : chat.sample(0).media) {
    std::cout << "  doc 0 " << (m.kind == data::MediaKind::kImage ? "image " : "audio ") << m.path << ": "
              << m.tokens << " tokens at " << m.offset << "\n";
  }
}

void AddDataCommand(CLI::App& app, int* exit_code) {
  auto* data_cmd = app.add_subcommand("data", "Build and inspect tokenized datasets");
  data_cmd->require_subcommand(1);

  auto build = std::make_shared<BuildArgs>();
  auto* b = data_cmd->add_subcommand("build", "Tokenize JSONL or text files into <PREFIX>.{tokens,docs,json}");
  b->add_option("--tokenizer", build->tokenizer, "Hugging Face tokenizer.json")->required();
  b->add_option("--input", build->options.inputs, "Input file(s): JSONL or plain text")->required();
  b->add_option("--format", build->format,
                "jsonl | text | auto (by extension: .jsonl/.json/.ndjson) | chat (conversations with images and audio)")
      ->check(CLI::IsMember({"jsonl", "text", "auto", "chat"}));
  b->add_option("--audio-encoder", build->chat.audio_encoder,
                "chat: the audio encoder whose output rows set a clip's tokens (qwen2_audio_encoder | whisper)");
  b->add_option("--n-mels", build->chat.audio.n_mels, "chat: mel bins of the audio features (80 or 128)");
  b->add_option("--image-tokenizer", build->chat.image_tokenizer,
                "chat: a janus_vqgan model directory that encodes output images (assistant images, "
                "{\"prompt\", \"target_image\"} samples) to codes");
  b->add_option("--audio-start", build->chat.chat.audio_start,
                "chat: the audio start marker token (with --audio-pad and --audio-end)");
  b->add_option("--audio-pad", build->chat.chat.audio_pad, "chat: the audio placeholder token");
  b->add_option("--audio-end", build->chat.chat.audio_end, "chat: the audio end marker token");
  b->add_option("--max-pixels", build->chat.image.max_pixels, "chat: images above this many pixels are scaled down");
  b->add_option("--text-field", build->options.text_field, "JSONL field holding the document text");
  b->add_option("--output", build->options.output, "Output prefix")->required();
  b->add_option("--eval-fraction", build->options.eval_fraction,
                "Hold out this fraction of documents: writes PREFIX-train and PREFIX-eval");
  b->add_option("--min-doc-chars", build->options.min_doc_chars,
                "Plain text: merge paragraphs into documents of at least this many bytes");
  b->add_option("--threads", build->options.threads, "Tokenizer threads (0: all cores)");
  b->callback([=] {
    RunBuild(*build);  // ConfigError propagates to main: "loom: error: ..." and exit 2
    *exit_code = 0;
  });

  auto inspect = std::make_shared<InspectArgs>();
  auto* i = data_cmd->add_subcommand("inspect", "Print a dataset's counts and its first tokens");
  i->add_option("prefix", inspect->prefix, "Dataset prefix (as given to --output)")->required();
  i->add_option("--tokenizer", inspect->tokenizer, "tokenizer.json to decode the first tokens with");
  i->add_option("--tokens", inspect->n_tokens, "How many of document 0's tokens to show");
  i->callback([=] {
    RunInspect(*inspect);
    *exit_code = 0;
  });
}

}  // namespace

LOOM_REGISTER_COMMAND(20, AddDataCommand);

}  // namespace loom::cli
