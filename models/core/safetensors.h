// safetensors I/O (https://huggingface.co/docs/safetensors format):
// 8-byte little-endian header length, a JSON header {name: {dtype, shape,
// data_offsets}, "__metadata__": {...}}, then the raw little-endian bytes.
//
// Reading memory-maps the file; tensors returned by Get alias the mapping
// (kept alive by the tensor) until copied. Dtypes: F32, BF16, F16 (plus I64,
// I32 for completeness). A directory with model.safetensors.index.json is
// read as one sharded checkpoint.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace loom::models {

class SafetensorsFile : public std::enable_shared_from_this<SafetensorsFile> {
 public:
  // Throws loom::ConfigError naming the file on a missing/corrupt file.
  static std::shared_ptr<SafetensorsFile> Open(const std::string& path);
  ~SafetensorsFile();

  std::vector<std::string> Names() const;
  bool Has(const std::string& name) const { return entries_.count(name) > 0; }
  // Aliases the mapping (read-only; clone before writing).
  at::Tensor Get(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::string& path() const { return path_; }

 private:
  struct Entry {
    at::ScalarType dtype;
    std::vector<int64_t> shape;
    size_t begin, end;  // byte offsets after the header
  };
  SafetensorsFile() = default;
  std::string path_;
  void* map_ = nullptr;
  size_t map_size_ = 0;
  size_t data_start_ = 0;
  std::map<std::string, Entry> entries_;
  std::map<std::string, std::string> metadata_;
};

// All tensors of a Hugging Face weights set: a .safetensors file, or a directory holding
// model.safetensors or model.safetensors.index.json (+ shards).
class SafetensorsFiles {
 public:
  static SafetensorsFiles Open(const std::string& file_or_dir);
  std::vector<std::string> Names() const;
  bool Has(const std::string& name) const { return where_.count(name) > 0; }
  at::Tensor Get(const std::string& name) const;  // ConfigError naming it if absent

 private:
  std::string source_;
  std::map<std::string, std::shared_ptr<SafetensorsFile>> where_;
};

// Writes tensors (contiguous copies are made as needed) to `path`.
void SaveSafetensors(const std::string& path,
                     const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                     const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

// Writes `dir`/model.safetensors, or shards of at most `max_shard_bytes` plus
// model.safetensors.index.json when larger.
void SaveSafetensorsDir(const std::string& dir,
                    const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                    size_t max_shard_bytes = size_t{5} << 30);

}  // namespace loom::models
