#include "models/core/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "ops/base/error.h"

namespace loom::models {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

at::ScalarType ParseDtype(const std::string& s, const std::string& file, const std::string& name) {
  if (s == "F32") return at::kFloat;
  if (s == "BF16") return at::kBFloat16;
  if (s == "F16") return at::kHalf;
  if (s == "F64") return at::kDouble;
  if (s == "I64") return at::kLong;
  if (s == "I32") return at::kInt;
  if (s == "BOOL") return at::kBool;
  throw ConfigError(ErrorWithFix(file + ": tensor '" + name + "' has unsupported dtype " + s,
                                 "convert the checkpoint to F32, BF16 or F16"));
}

}  // namespace

std::shared_ptr<SafetensorsFile> SafetensorsFile::Open(const std::string& path) {
  const auto fail = [&](const std::string& what) {
    return ConfigError(ErrorWithFix(path + ": " + what, "pass a valid .safetensors file"));
  };
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw fail(std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  ::fstat(fd, &st);
  const size_t size = static_cast<size_t>(st.st_size);
  if (size < 8) {
    ::close(fd);
    throw fail("too small to be safetensors (" + std::to_string(size) + " bytes)");
  }
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) throw fail(std::string("mmap failed: ") + std::strerror(errno));
  std::shared_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = path;
  file->map_ = map;
  file->map_size_ = size;
  uint64_t header_len = 0;
  std::memcpy(&header_len, map, 8);  // little-endian hosts only (x86, arm)
  if (header_len > size - 8) throw fail("header length " + std::to_string(header_len) + " exceeds the file");
  file->data_start_ = 8 + header_len;
  json header;
  try {
    header = json::parse(static_cast<const char*>(map) + 8, static_cast<const char*>(map) + 8 + header_len);
  } catch (const std::exception& e) {
    throw fail(std::string("invalid JSON header: ") + e.what());
  }
  const size_t data_size = size - file->data_start_;
  for (auto& [name, v] : header.items()) {
    if (name == "__metadata__") {
      for (auto& [k, mv] : v.items()) file->metadata_[k] = mv.is_string() ? mv.get<std::string>() : mv.dump();
      continue;
    }
    Entry e;
    try {
      e.dtype = ParseDtype(v.at("dtype").get<std::string>(), path, name);
      e.shape = v.at("shape").get<std::vector<int64_t>>();
      e.begin = v.at("data_offsets").at(0).get<size_t>();
      e.end = v.at("data_offsets").at(1).get<size_t>();
    } catch (const json::exception& ex) {
      throw fail("bad header entry for '" + name + "': " + ex.what());
    }
    int64_t numel = 1;
    for (int64_t d : e.shape) numel *= d;
    const size_t want = static_cast<size_t>(numel) * c10::elementSize(e.dtype);
    if (e.end < e.begin || e.end > data_size || e.end - e.begin != want) {
      throw fail("tensor '" + name + "' has offsets [" + std::to_string(e.begin) + ", " +
                 std::to_string(e.end) + ") inconsistent with its shape or the file size");
    }
    file->entries_[name] = e;
  }
  return file;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_) ::munmap(map_, map_size_);
}

std::vector<std::string> SafetensorsFile::Names() const {
  std::vector<std::string> names;
  for (const auto& [n, _] : entries_) names.push_back(n);
  return names;
}

at::Tensor SafetensorsFile::Get(const std::string& name) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) throw ConfigError(path_ + ": no tensor named '" + name + "'");
  const Entry& e = it->second;
  char* data = static_cast<char*>(map_) + data_start_ + e.begin;
  // The tensor holds a reference to this file so the mapping outlives it.
  auto keep = shared_from_this();
  return at::from_blob(data, e.shape, [keep](void*) {}, at::TensorOptions().dtype(e.dtype));
}

}  // namespace loom::models
