// TokenDataset (mmap reader) and TokenDatasetWriter (see token_dataset.h).
#include "sdk/data/token_dataset.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "ops/base/error.h"

namespace loom::data {
namespace {

static_assert(std::endian::native == std::endian::little, "the dataset format is little-endian");

const char* kRebuild = "rebuild it with `loom data build --tokenizer ... --input ... --output PREFIX`";

// Maps a whole file read-only; *bytes gets its size. An empty file maps to
// nullptr.
void* MapFile(const std::string& path, size_t* bytes) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    throw ConfigError(ErrorWithFix("dataset file " + path + " cannot be opened (" + std::strerror(errno) + ")",
                                   kRebuild));
  }
  struct stat st {};
  ::fstat(fd, &st);
  *bytes = static_cast<size_t>(st.st_size);
  void* map = nullptr;
  if (*bytes > 0) {
    map = ::mmap(nullptr, *bytes, PROT_READ, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
      ::close(fd);
      throw ConfigError(ErrorWithFix("dataset file " + path + " cannot be mapped (" + std::strerror(errno) + ")",
                                     "check free address space and file permissions"));
    }
  }
  ::close(fd);
  return map;
}

[[noreturn]] void Corrupt(const std::string& file, const std::string& what) {
  throw ConfigError(ErrorWithFix("dataset file " + file + ": " + what, kRebuild));
}

}  // namespace

TokenDataset TokenDataset::Open(const std::string& prefix) {
  TokenDataset ds;
  ds.prefix_ = prefix;
  const std::string meta_path = prefix + ".json";
  std::ifstream meta(meta_path);
  if (!meta) {
    throw ConfigError(ErrorWithFix("dataset metadata " + meta_path + " does not exist",
                                   "pass the PREFIX given to `loom data build --output PREFIX` (without .json)"));
  }
  const auto j = nlohmann::json::parse(meta, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) Corrupt(meta_path, "not a JSON object");
  try {
    if (j.value("format", "") != "loom.tokens") Corrupt(meta_path, "\"format\" is not \"loom.tokens\"");
    const int version = j.at("version").get<int>();
    if (version != kTokenDatasetVersion) {
      Corrupt(meta_path, "format version " + std::to_string(version) + " (this build reads " +
                             std::to_string(kTokenDatasetVersion) + ")");
    }
    ds.info_.tokenizer = j.value("tokenizer", "");
    ds.info_.vocab_size = j.at("vocab_size").get<int64_t>();
    ds.info_.eos_id = j.at("eos_id").get<int32_t>();
    ds.info_.n_docs = j.at("n_docs").get<int64_t>();
    ds.info_.n_tokens = j.at("n_tokens").get<int64_t>();
    ds.info_.source = j.value("source", "");
  } catch (const nlohmann::json::exception& e) {
    Corrupt(meta_path, std::string("missing or mistyped field: ") + e.what());
  }
  if (ds.info_.n_docs <= 0) Corrupt(meta_path, "n_docs is " + std::to_string(ds.info_.n_docs));

  ds.tokens_map_ = MapFile(prefix + ".tokens", &ds.tokens_bytes_);
  ds.offsets_map_ = MapFile(prefix + ".docs", &ds.offsets_bytes_);
  ds.tokens_ = static_cast<const int32_t*>(ds.tokens_map_);
  ds.offsets_ = static_cast<const int64_t*>(ds.offsets_map_);
  if (ds.tokens_bytes_ != static_cast<size_t>(ds.info_.n_tokens) * sizeof(int32_t)) {
    Corrupt(prefix + ".tokens", std::to_string(ds.tokens_bytes_) + " bytes, but the metadata says " +
                                    std::to_string(ds.info_.n_tokens) + " int32 tokens");
  }
  if (ds.offsets_bytes_ != static_cast<size_t>(ds.info_.n_docs + 1) * sizeof(int64_t)) {
    Corrupt(prefix + ".docs", std::to_string(ds.offsets_bytes_) + " bytes, but the metadata says " +
                                  std::to_string(ds.info_.n_docs) + " documents (n_docs + 1 int64 offsets)");
  }
  if (ds.offsets_[0] != 0 || ds.offsets_[ds.info_.n_docs] != ds.info_.n_tokens) {
    Corrupt(prefix + ".docs", "offsets do not start at 0 and end at n_tokens");
  }
  for (int64_t i = 0; i < ds.info_.n_docs; ++i) {
    if (ds.offsets_[i + 1] <= ds.offsets_[i]) Corrupt(prefix + ".docs", "document " + std::to_string(i) + " is empty");
  }
  return ds;
}

TokenDataset::TokenDataset(TokenDataset&& other) noexcept { *this = std::move(other); }

TokenDataset& TokenDataset::operator=(TokenDataset&& other) noexcept {
  if (this != &other) {
    Release();
    prefix_ = std::move(other.prefix_);
    info_ = std::move(other.info_);
    tokens_ = std::exchange(other.tokens_, nullptr);
    offsets_ = std::exchange(other.offsets_, nullptr);
    tokens_map_ = std::exchange(other.tokens_map_, nullptr);
    tokens_bytes_ = std::exchange(other.tokens_bytes_, 0);
    offsets_map_ = std::exchange(other.offsets_map_, nullptr);
    offsets_bytes_ = std::exchange(other.offsets_bytes_, 0);
  }
  return *this;
}

TokenDataset::~TokenDataset() { Release(); }

void TokenDataset::Release() {
  if (tokens_map_ != nullptr) ::munmap(tokens_map_, tokens_bytes_);
  if (offsets_map_ != nullptr) ::munmap(offsets_map_, offsets_bytes_);
  tokens_map_ = offsets_map_ = nullptr;
}

std::span<const int32_t> TokenDataset::Doc(int64_t i) const {
  if (i < 0 || i >= info_.n_docs) throw std::out_of_range("document " + std::to_string(i) + " of " + prefix_);
  return {tokens_ + offsets_[i], static_cast<size_t>(offsets_[i + 1] - offsets_[i])};
}

int64_t TokenDataset::DocLength(int64_t i) const {
  if (i < 0 || i >= info_.n_docs) throw std::out_of_range("document " + std::to_string(i) + " of " + prefix_);
  return offsets_[i + 1] - offsets_[i];
}

TokenDatasetWriter::TokenDatasetWriter(const std::string& prefix, TokenDatasetInfo info)
    : prefix_(prefix), info_(std::move(info)) {
  info_.n_docs = 0;
  info_.n_tokens = 0;
  const auto dir = std::filesystem::path(prefix).parent_path();
  std::error_code ec;
  if (!dir.empty()) std::filesystem::create_directories(dir, ec);
  tokens_.open(prefix + ".tokens.tmp", std::ios::binary | std::ios::trunc);
  docs_.open(prefix + ".docs.tmp", std::ios::binary | std::ios::trunc);
  if (!tokens_ || !docs_) {
    throw ConfigError(ErrorWithFix("cannot create dataset files " + prefix + ".{tokens,docs}",
                                   "check that the output directory is writable"));
  }
  const int64_t zero = 0;
  docs_.write(reinterpret_cast<const char*>(&zero), sizeof(zero));
}

TokenDatasetWriter::~TokenDatasetWriter() {
  if (!finished_) {
    tokens_.close();
    docs_.close();
    std::error_code ec;
    std::filesystem::remove(prefix_ + ".tokens.tmp", ec);
    std::filesystem::remove(prefix_ + ".docs.tmp", ec);
  }
}

void TokenDatasetWriter::Append(std::span<const int32_t> tokens) {
  tokens_.write(reinterpret_cast<const char*>(tokens.data()), static_cast<std::streamsize>(tokens.size_bytes()));
  tokens_.write(reinterpret_cast<const char*>(&info_.eos_id), sizeof(int32_t));
  info_.n_tokens += static_cast<int64_t>(tokens.size()) + 1;
  info_.n_docs += 1;
  docs_.write(reinterpret_cast<const char*>(&info_.n_tokens), sizeof(int64_t));
}

TokenDatasetInfo TokenDatasetWriter::Finish() {
  if (info_.n_docs == 0) {
    throw ConfigError(ErrorWithFix("dataset " + prefix_ + " would hold no documents",
                                   "check the input files and the text field"));
  }
  tokens_.close();
  docs_.close();
  if (tokens_.fail() || docs_.fail()) {
    throw ConfigError(ErrorWithFix("writing dataset " + prefix_ + " failed", "check free disk space"));
  }
  const nlohmann::json meta = {{"format", "loom.tokens"},       {"version", kTokenDatasetVersion},
                               {"tokenizer", info_.tokenizer},  {"vocab_size", info_.vocab_size},
                               {"eos_id", info_.eos_id},        {"n_docs", info_.n_docs},
                               {"n_tokens", info_.n_tokens},    {"source", info_.source}};
  {
    std::ofstream out(prefix_ + ".json.tmp");
    out << meta.dump(2) << "\n";
    if (!out) throw ConfigError(ErrorWithFix("writing " + prefix_ + ".json failed", "check free disk space"));
  }
  std::filesystem::rename(prefix_ + ".tokens.tmp", prefix_ + ".tokens");
  std::filesystem::rename(prefix_ + ".docs.tmp", prefix_ + ".docs");
  std::filesystem::rename(prefix_ + ".json.tmp", prefix_ + ".json");
  finished_ = true;
  return info_;
}

}  // namespace loom::data
