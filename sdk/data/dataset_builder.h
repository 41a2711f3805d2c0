// Building a tokenized dataset (token_dataset.h) from text files.
//
// Inputs are read as
//   - JSONL: one JSON object per line, the document in a string field
//     (`text` by default). Blank lines are ignored; a line that is not valid
//     JSON, lacks the field, holds a non-string or an empty string is skipped
//     and reported with its line number;
//   - plain text: a UTF-8 BOM is dropped and CRLF read as LF; documents are
//     separated by blank lines (paragraphs), and consecutive paragraphs are
//     joined with "\n\n" until a document reaches `min_doc_chars`, so short
//     paragraphs (headings, one-line dialogue) do not become tiny documents.
// A missing or unreadable input file is reported the same way (line 0), never
// a crash. Each document is tokenized (no special-token handling beyond the
// tokenizer's added tokens) and written followed by the tokenizer's eos.
//
// With eval_fraction > 0 the documents are split into <output>-train and
// <output>-eval: a document goes to eval when a 64-bit hash of its text,
// read as a fraction of 2^64, is below eval_fraction. The split is therefore
// deterministic, independent of input order and of thread count, and keeps
// duplicate documents on the same side.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sdk/data/token_dataset.h"
#include "sdk/data/tokenizer.h"

namespace loom::data {

enum class InputFormat { kAuto, kJsonl, kText };  // kAuto: .jsonl/.json/.ndjson -> JSONL

// Parses "jsonl", "text" or "auto". @throws loom::ConfigError otherwise.
InputFormat ParseInputFormat(const std::string& name);

struct DatasetBuildOptions {
  std::vector<std::string> inputs;    // files, read in order
  InputFormat format = InputFormat::kAuto;
  std::string text_field = "text";    // JSONL field holding the document
  std::string output;                 // dataset prefix (see token_dataset.h)
  double eval_fraction = 0.0;         // in [0, 1); 0: no split
  int64_t min_doc_chars = 1000;       // plain text: merge paragraphs up to this
  int threads = 0;                    // tokenizer threads; 0: all cores
};

// One skipped input: where and why.
struct InputIssue {
  std::string file;
  int64_t line = 0;  // 1-based; 0 for the whole file
  std::string reason;
};

struct DatasetBuildReport {
  // Datasets written: one (output) or two (output-train, output-eval).
  std::vector<std::string> prefixes;
  std::vector<TokenDatasetInfo> datasets;
  int64_t n_docs = 0;      // documents written, all datasets
  int64_t n_tokens = 0;    // tokens written (eos included), all datasets
  int64_t n_bytes = 0;     // bytes of document text tokenized
  int64_t n_skipped = 0;   // inputs skipped (see issues)
  std::vector<InputIssue> issues;  // the first kMaxIssues of them
  double seconds = 0.0;    // wall time of the whole build

  static constexpr size_t kMaxIssues = 100;
};

/// Builds the dataset(s) described by `options` with `tokenizer`.
/// @return what was written and what was skipped.
/// @throws loom::ConfigError if options are invalid, or if a dataset would be
///         empty (e.g. every line skipped, or eval_fraction leaves one side
///         empty) — the message names the first skipped inputs and the fix.
///         Nothing is left behind under the output prefix in that case.
DatasetBuildReport BuildTokenDataset(const Tokenizer& tokenizer, const DatasetBuildOptions& options);

/// Splits plain text into documents as described above (exposed for tests).
std::vector<std::string> SplitTextDocuments(const std::string& text, int64_t min_doc_chars);

/// The eval-split hash of a document's text as a fraction in [0, 1).
double SplitFraction(const std::string& text);

}  // namespace loom::data
