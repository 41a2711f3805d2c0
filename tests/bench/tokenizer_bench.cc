// tokenizer_bench TOKENIZER_JSON TEXT_FILE: encodes the same ~1 MB of real
// text with Loom's C++ tokenizer and with Python `tokenizers` (one thread
// each, best of several runs, word caches warm after the first) and prints
// tokens/s for both and their ratio; then the same text as paragraphs, C++
// one Encode per paragraph on one thread vs Python encode_batch on all cores.
// Fails if the two disagree on a token count.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "sdk/data/tokenizer.h"

namespace {

constexpr size_t kBytes = 1 << 20;
constexpr int kRepeats = 5;

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: tokenizer_bench TOKENIZER_JSON TEXT_FILE\n";
    return 2;
  }
  std::string text = Slurp(argv[2]);
  if (text.empty()) {
    std::cerr << "tokenizer_bench: cannot read " << argv[2] << " (run scripts/assets.sh)\n";
    return 1;
  }
  std::string lf;  // CRLF -> LF, so paragraphs split on "\n\n" on both sides
  for (size_t i = 0; i < text.size(); ++i) {
    if (!(text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n')) lf += text[i];
  }
  text.swap(lf);
  if (text.size() > kBytes) text.resize(text.rfind('\n', kBytes) + 1);  // whole lines only
  const std::string sample = "/tmp/loom_tokenizer_bench_" + std::to_string(::getpid()) + ".txt";
  std::ofstream(sample, std::ios::binary) << text;

  const auto load_start = std::chrono::steady_clock::now();
  const auto tokenizer = loom::data::Tokenizer::FromFile(argv[1]);
  const double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count();
  size_t n_tokens = 0;
  double cold = 0, best = 1e30;
  for (int i = 0; i < kRepeats; ++i) {
    const auto start = std::chrono::steady_clock::now();
    n_tokens = tokenizer.Encode(text).size();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (i == 0) cold = s;
    best = std::min(best, s);
  }

  // The same text as paragraphs, encoded one by one on this thread.
  std::vector<std::string> paragraphs;
  for (size_t at = 0;;) {
    const size_t next = text.find("\n\n", at);
    paragraphs.push_back(text.substr(at, next == std::string::npos ? std::string::npos : next - at));
    if (next == std::string::npos) break;
    at = next + 2;
  }
  size_t n_para_tokens = 0;
  double best_para = 1e30;
  for (int i = 0; i < kRepeats; ++i) {
    const auto start = std::chrono::steady_clock::now();
    n_para_tokens = 0;
    for (const auto& p : paragraphs) n_para_tokens += tokenizer.Encode(p).size();
    best_para = std::min(best_para, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }

  const std::string command = std::string(LOOM_SOURCE_DIR) + "/.venv/bin/python " + LOOM_SOURCE_DIR +
                              "/tests/sdk/data/hf_reference.py bench '" + argv[1] + "' '" + sample + "' " +
                              std::to_string(kRepeats);
  FILE* pipe = ::popen(command.c_str(), "r");
  long long py_tokens = -1, py_para_tokens = -1;
  double py_s = 0, py_para_s = 0;
  if (pipe == nullptr || std::fscanf(pipe, "tokens=%lld seconds=%lf batch_tokens=%lld batch_seconds=%lf", &py_tokens,
                                     &py_s, &py_para_tokens, &py_para_s) != 4) {
    std::cerr << "tokenizer_bench: python reference failed: " << command << "\n";
    return 1;
  }
  ::pclose(pipe);
  std::remove(sample.c_str());

  const double cpp_rate = static_cast<double>(n_tokens) / best;
  const double py_rate = static_cast<double>(py_tokens) / py_s;
  std::printf("tokenizer_bench: %zu bytes of %s, %zu tokens (load %.2f s)\n", text.size(), argv[2], n_tokens, load_s);
  std::printf("  C++ loom:          %10.0f tokens/s (best of %d; first run %.0f tokens/s)\n", cpp_rate, kRepeats,
              static_cast<double>(n_tokens) / cold);
  std::printf("  Python tokenizers: %10.0f tokens/s (best of %d)\n", py_rate, kRepeats);
  std::printf("  ratio C++/Python:  %.2fx\n", cpp_rate / py_rate);
  const double cpp_para_rate = static_cast<double>(n_para_tokens) / best_para;
  const double py_para_rate = static_cast<double>(py_para_tokens) / py_para_s;
  std::printf("as %zu paragraphs, %zu tokens:\n", paragraphs.size(), n_para_tokens);
  std::printf("  C++ loom, 1 thread, one Encode per paragraph: %10.0f tokens/s\n", cpp_para_rate);
  std::printf("  Python tokenizers encode_batch (%u cores):     %10.0f tokens/s\n",
              std::thread::hardware_concurrency(), py_para_rate);
  std::printf("  ratio C++/Python:  %.2fx\n", cpp_para_rate / py_para_rate);
  if (static_cast<long long>(n_tokens) != py_tokens || static_cast<long long>(n_para_tokens) != py_para_tokens) {
    std::printf("tokenizer_bench: token counts differ (C++ %zu/%zu, Python %lld/%lld)\n", n_tokens, n_para_tokens,
                py_tokens, py_para_tokens);
    return 1;
  }
  return 0;
}
