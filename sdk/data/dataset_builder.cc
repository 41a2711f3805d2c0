// BuildTokenDataset: read documents, tokenize them in parallel batches, write
// them in input order (see dataset_builder.h).
#include "sdk/data/dataset_builder.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>

#include <nlohmann/json.hpp>

#include "ops/base/error.h"

namespace loom::data {
namespace {

// Documents are tokenized in batches of about this many bytes.
constexpr size_t kBatchBytes = 4 << 20;

// Streams plain-text lines into documents: paragraphs (runs of non-blank
// lines) joined with "\n\n" until min_chars is reached.
class ParagraphSplitter {
 public:
  explicit ParagraphSplitter(int64_t min_chars) : min_chars_(static_cast<size_t>(std::max<int64_t>(min_chars, 0))) {}

  // Feeds one line (no trailing newline); may complete a document into *out.
  void Line(std::string_view line, std::vector<std::string>* out) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t\f\v") == std::string_view::npos) {
      EndParagraph(out);
      return;
    }
    if (!paragraph_.empty()) paragraph_ += '\n';
    paragraph_.append(line);
  }

  // Ends the input: flushes whatever is pending.
  void Finish(std::vector<std::string>* out) {
    EndParagraph(out);
    if (!doc_.empty()) out->push_back(std::move(doc_));
    doc_.clear();
  }

 private:
  void EndParagraph(std::vector<std::string>* out) {
    if (paragraph_.empty()) return;
    if (!doc_.empty()) doc_ += "\n\n";
    doc_ += paragraph_;
    paragraph_.clear();
    if (doc_.size() >= min_chars_) {
      out->push_back(std::move(doc_));
      doc_.clear();
    }
  }

  size_t min_chars_;
  std::string paragraph_;
  std::string doc_;
};

uint64_t Fnv1a(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (const char c : s) {
    h ^= static_cast<uint8_t>(c);
    h *= 0x100000001b3ULL;
  }
  // splitmix64 finalizer, so nearby texts spread over [0, 2^64).
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  return h ^ (h >> 31);
}

// Tokenizes a batch with `threads` workers, then hands the ids to the
// writers in input order.
class BatchWriter {
 public:
  BatchWriter(const Tokenizer& tokenizer, const DatasetBuildOptions& options,
              std::vector<std::unique_ptr<TokenDatasetWriter>>* writers, DatasetBuildReport* report)
      : tokenizer_(tokenizer), options_(options), writers_(writers), report_(report) {
    threads_ = options.threads > 0 ? options.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }

  void Add(std::string doc) {
    pending_bytes_ += doc.size();
    pending_.push_back(std::move(doc));
    if (pending_bytes_ >= kBatchBytes) Flush();
  }

  void Flush() {
    std::vector<std::vector<int32_t>> ids(pending_.size());
    const int n_workers = std::min<int>(threads_, static_cast<int>(pending_.size()));
    auto work = [&](int w) {
      for (size_t i = static_cast<size_t>(w); i < pending_.size(); i += static_cast<size_t>(n_workers)) {
        ids[i] = tokenizer_.Encode(pending_[i]);
      }
    };
    if (n_workers > 1) {
      std::vector<std::thread> pool;
      for (int w = 0; w < n_workers; ++w) pool.emplace_back(work, w);
      for (auto& t : pool) t.join();
    } else if (n_workers == 1) {
      work(0);
    }
    for (size_t i = 0; i < pending_.size(); ++i) {
      const bool eval = writers_->size() == 2 && SplitFraction(pending_[i]) < options_.eval_fraction;
      (*writers_)[eval ? 1 : 0]->Append(ids[i]);
      report_->n_bytes += static_cast<int64_t>(pending_[i].size());
    }
    pending_.clear();
    pending_bytes_ = 0;
  }

 private:
  const Tokenizer& tokenizer_;
  const DatasetBuildOptions& options_;
  std::vector<std::unique_ptr<TokenDatasetWriter>>* writers_;
  DatasetBuildReport* report_;
  int threads_ = 1;
  std::vector<std::string> pending_;
  size_t pending_bytes_ = 0;
};

void Skip(DatasetBuildReport* report, const std::string& file, int64_t line, std::string reason) {
  ++report->n_skipped;
  if (report->issues.size() < DatasetBuildReport::kMaxIssues) report->issues.push_back({file, line, std::move(reason)});
}

bool IsJsonl(const std::string& path, InputFormat format) {
  if (format != InputFormat::kAuto) return format == InputFormat::kJsonl;
  const auto ext = std::filesystem::path(path).extension().string();
  return ext == ".jsonl" || ext == ".json" || ext == ".ndjson";
}

void ReadJsonl(const std::string& path, std::istream& in, const std::string& field, BatchWriter* batch,
               DatasetBuildReport* report) {
  std::string line;
  for (int64_t n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) {
      Skip(report, path, n, "invalid JSON");
    } else if (!j.is_object() || !j.contains(field)) {
      Skip(report, path, n, "no field \"" + field + "\"");
    } else if (!j[field].is_string()) {
      Skip(report, path, n, "field \"" + field + "\" is not a string");
    } else if (j[field].get_ref<const std::string&>().empty()) {
      Skip(report, path, n, "field \"" + field + "\" is empty");
    } else {
      batch->Add(j[field].get<std::string>());
    }
  }
}

void ReadText(std::istream& in, int64_t min_doc_chars, BatchWriter* batch) {
  ParagraphSplitter splitter(min_doc_chars);
  std::vector<std::string> docs;
  std::string line;
  for (bool first = true; std::getline(in, line); first = false) {
    std::string_view view = line;
    if (first && view.starts_with("\xEF\xBB\xBF")) view.remove_prefix(3);  // UTF-8 BOM
    splitter.Line(view, &docs);
    for (auto& d : docs) batch->Add(std::move(d));
    docs.clear();
  }
  splitter.Finish(&docs);
  for (auto& d : docs) batch->Add(std::move(d));
}

std::string DescribeIssues(const DatasetBuildReport& report) {
  std::string s;
  for (size_t i = 0; i < std::min<size_t>(report.issues.size(), 3); ++i) {
    const auto& issue = report.issues[i];
    s += (i ? "; " : " (") + issue.file + (issue.line ? ":" + std::to_string(issue.line) : "") + ": " + issue.reason;
  }
  return s.empty() ? s : s + ")";
}

}  // namespace

InputFormat ParseInputFormat(const std::string& name) {
  if (name == "jsonl") return InputFormat::kJsonl;
  if (name == "text") return InputFormat::kText;
  if (name == "auto") return InputFormat::kAuto;
  throw ConfigError(ErrorWithFix("unknown input format \"" + name + "\"", "use jsonl, text or auto"));
}

std::vector<std::string> SplitTextDocuments(const std::string& text, int64_t min_doc_chars) {
  ParagraphSplitter splitter(min_doc_chars);
  std::vector<std::string> docs;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    splitter.Line(std::string_view(text).substr(start, end - start), &docs);
    start = end + 1;
  }
  splitter.Finish(&docs);
  return docs;
}

double SplitFraction(const std::string& text) {
  return static_cast<double>(Fnv1a(text) >> 11) * 0x1.0p-53;  // top 53 bits -> [0, 1)
}

DatasetBuildReport BuildTokenDataset(const Tokenizer& tokenizer, const DatasetBuildOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  if (options.inputs.empty()) throw ConfigError(ErrorWithFix("no input files", "pass --input FILE"));
  if (options.output.empty()) throw ConfigError(ErrorWithFix("no output prefix", "pass --output PREFIX"));
  if (!(options.eval_fraction >= 0.0 && options.eval_fraction < 1.0)) {
    throw ConfigError(ErrorWithFix("eval fraction " + std::to_string(options.eval_fraction) + " is outside [0, 1)",
                                   "pass e.g. --eval-fraction 0.05"));
  }
  DatasetBuildReport report;
  if (options.eval_fraction > 0.0) {
    report.prefixes = {options.output + "-train", options.output + "-eval"};
  } else {
    report.prefixes = {options.output};
  }
  TokenDatasetInfo info;
  info.tokenizer = tokenizer.path();
  info.vocab_size = tokenizer.vocab_size();
  info.eos_id = tokenizer.eos_id();
  for (size_t i = 0; i < options.inputs.size(); ++i) info.source += (i ? "," : "") + options.inputs[i];

  std::vector<std::unique_ptr<TokenDatasetWriter>> writers;
  for (const auto& prefix : report.prefixes) writers.push_back(std::make_unique<TokenDatasetWriter>(prefix, info));
  BatchWriter batch(tokenizer, options, &writers, &report);
  for (const auto& path : options.inputs) {
    std::ifstream in(path, std::ios::binary);
    if (!in || std::filesystem::is_directory(path)) {
      Skip(&report, path, 0, "cannot open the file");
      continue;
    }
    if (IsJsonl(path, options.format)) {
      ReadJsonl(path, in, options.text_field, &batch, &report);
    } else {
      ReadText(in, options.min_doc_chars, &batch);
    }
  }
  batch.Flush();

  for (size_t i = 0; i < writers.size(); ++i) {
    if (writers[i]->n_docs() == 0) {
      const std::string fix = writers.size() == 2
                                  ? "raise or lower --eval-fraction, or provide more documents"
                                  : "check the --input files and --format/--text-field";
      throw ConfigError(ErrorWithFix("dataset " + report.prefixes[i] + " would be empty: " +
                                         std::to_string(report.n_skipped) + " input(s) skipped" +
                                         DescribeIssues(report),
                                     fix));
    }
  }
  for (auto& w : writers) {
    report.datasets.push_back(w->Finish());
    report.n_docs += report.datasets.back().n_docs;
    report.n_tokens += report.datasets.back().n_tokens;
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace loom::data
