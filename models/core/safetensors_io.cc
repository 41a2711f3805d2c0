// Reading Hugging Face safetensors sets (one file, or a sharded index) and writing them.
#include <cstring>
#include <filesystem>
#include <fstream>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "models/core/safetensors.h"
#include "ops/base/error.h"

namespace loom::models {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string DtypeName(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return "F32";
    case at::kBFloat16: return "BF16";
    case at::kHalf: return "F16";
    case at::kDouble: return "F64";
    case at::kLong: return "I64";
    case at::kInt: return "I32";
    case at::kBool: return "BOOL";
    default:
      throw ConfigError(std::string("cannot save dtype ") + c10::toString(t) + " to safetensors");
  }
}

}  // namespace

SafetensorsFiles SafetensorsFiles::Open(const std::string& file_or_dir) {
  SafetensorsFiles ckpt;
  ckpt.source_ = file_or_dir;
  const fs::path p(file_or_dir);
  std::vector<std::string> files;
  if (fs::is_regular_file(p)) {
    files.push_back(p.string());
  } else if (fs::is_regular_file(p / "model.safetensors.index.json")) {
    std::ifstream in(p / "model.safetensors.index.json");
    json index;
    try {
      index = json::parse(in);
    } catch (const std::exception& e) {
      throw ConfigError((p / "model.safetensors.index.json").string() + ": invalid JSON: " + e.what());
    }
    std::map<std::string, std::shared_ptr<SafetensorsFile>> opened;
    for (auto& [name, shard] : index.at("weight_map").items()) {
      const std::string file = (p / shard.get<std::string>()).string();
      if (!opened.count(file)) opened[file] = SafetensorsFile::Open(file);
      if (!opened[file]->Has(name)) {
        throw ConfigError(ErrorWithFix("index maps '" + name + "' to " + file + " which lacks it",
                                       "regenerate model.safetensors.index.json"));
      }
      ckpt.where_[name] = opened[file];
    }
    return ckpt;
  } else if (fs::is_regular_file(p / "model.safetensors")) {
    files.push_back((p / "model.safetensors").string());
  } else {
    throw ConfigError(ErrorWithFix("no safetensors checkpoint at '" + file_or_dir + "'",
                                   "pass a .safetensors file or a directory with model.safetensors "
                                   "or model.safetensors.index.json"));
  }
  for (const auto& f : files) {
    auto file = SafetensorsFile::Open(f);
    for (const auto& name : file->Names()) ckpt.where_[name] = file;
  }
  return ckpt;
}

std::vector<std::string> SafetensorsFiles::Names() const {
  std::vector<std::string> names;
  for (const auto& [n, _] : where_) names.push_back(n);
  return names;
}

at::Tensor SafetensorsFiles::Get(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) {
    throw ConfigError(ErrorWithFix("checkpoint '" + source_ + "' has no tensor '" + name + "'",
                                   "check that the checkpoint matches the model config"));
  }
  return it->second->Get(name);
}

void SaveSafetensors(const std::string& path,
                     const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                     const std::map<std::string, std::string>& metadata) {
  json header;
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<at::Tensor> data;
  size_t offset = 0;
  for (const auto& [name, t] : tensors) {
    auto c = t.detach().to(at::kCPU).contiguous();
    const size_t bytes = c.numel() * c.element_size();
    header[name] = {{"dtype", DtypeName(c.scalar_type())},
                    {"shape", c.sizes().vec()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    data.push_back(c);
  }
  std::string h = header.dump();
  h.append((8 - h.size() % 8) % 8, ' ');  // align the data section to 8 bytes
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw Error("cannot write " + tmp);
    const uint64_t len = h.size();
    out.write(reinterpret_cast<const char*>(&len), 8);
    out.write(h.data(), static_cast<std::streamsize>(h.size()));
    for (const auto& c : data) {
      out.write(static_cast<const char*>(c.data_ptr()), static_cast<std::streamsize>(c.numel() * c.element_size()));
    }
    if (!out) throw Error("short write to " + tmp);
  }
  fs::rename(tmp, path);  // atomic: readers never see a half-written file
}

void SaveSafetensorsDir(const std::string& dir,
                    const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                    size_t max_shard_bytes) {
  fs::create_directories(dir);
  std::vector<std::vector<std::pair<std::string, at::Tensor>>> shards(1);
  size_t current = 0, total = 0;
  for (const auto& nt : tensors) {
    const size_t bytes = nt.second.numel() * nt.second.element_size();
    if (current > 0 && current + bytes > max_shard_bytes) shards.emplace_back(), current = 0;
    shards.back().push_back(nt);
    current += bytes;
    total += bytes;
  }
  if (shards.size() == 1) {
    SaveSafetensors((fs::path(dir) / "model.safetensors").string(), shards[0]);
    return;
  }
  json index;
  index["metadata"] = {{"total_size", total}};
  const size_t n = shards.size();
  for (size_t i = 0; i < n; ++i) {
    char name[64];
    std::snprintf(name, sizeof(name), "model-%05zu-of-%05zu.safetensors", i + 1, n);
    SaveSafetensors((fs::path(dir) / name).string(), shards[i]);
    for (const auto& [tname, _] : shards[i]) index["weight_map"][tname] = name;
  }
  std::ofstream(fs::path(dir) / "model.safetensors.index.json") << index.dump(2);
}

}  // namespace loom::models
