#include "sdk/checkpoint/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "models/core/safetensors.h"
#include "ops/base/error.h"

namespace loom::checkpoint {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
constexpr int kVersion = 1;

std::string RankFileName(int rank) {
  char name[32];
  std::snprintf(name, sizeof(name), "rank-%05d", rank);
  return name;
}

void Fsync(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw Error("cannot open " + path + " to fsync it");
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) throw Error("fsync of " + path + " failed");
}

void WriteFileSynced(const std::string& path, const std::string& text) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.flush()) throw Error("cannot write " + path);
  }
  Fsync(path);
}

// CRC-32 (zlib) and size of a whole file.
std::pair<uint32_t, int64_t> Crc(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(ErrorWithFix("cannot read " + path, "restore the file, or resume from another checkpoint"));
  std::vector<char> buf(size_t{1} << 20);
  uLong crc = crc32(0L, Z_NULL, 0);
  int64_t bytes = 0;
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const auto n = in.gcount();
    if (n <= 0) break;
    crc = crc32(crc, reinterpret_cast<const Bytef*>(buf.data()), static_cast<uInt>(n));
    bytes += n;
  }
  return {static_cast<uint32_t>(crc), bytes};
}

json MetaToJson(const Meta& m) {
  json params = json::object();
  for (const auto& [name, shape] : m.params) params[name] = {{"shape", shape}};
  return {{"format", "loom.checkpoint"}, {"version", kVersion},  {"step", m.step},
          {"world", m.world},            {"data_position", m.data_position}, {"adam_step", m.adam_step},
          {"run_id", m.run_id},          {"family", m.family},   {"num_parameters", m.num_parameters},
          {"params", params},
          {"config", m.config_json.empty() ? json() : json::parse(m.config_json, nullptr, false)}};
}

}  // namespace

std::string StepDirName(int64_t step) {
  char name[32];
  std::snprintf(name, sizeof(name), "step-%08lld", static_cast<long long>(step));
  return name;
}

int64_t WriteRankFile(const std::string& root, int64_t step, int rank, const std::vector<Piece>& pieces,
                   const at::Tensor& rng) {
  const fs::path tmp = fs::path(root) / (".tmp-" + StepDirName(step));
  fs::create_directories(tmp);
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& p : pieces) {
    if (p.values.numel() == 0) continue;
    tensors.emplace_back(p.kind + "|" + p.param + "|" + std::to_string(p.begin),
                         p.values.detach().to(at::kCPU, at::kFloat).reshape({-1}).contiguous());
  }
  if (rng.defined()) tensors.emplace_back("rng", rng.to(at::kLong));
  const std::string file = (tmp / (RankFileName(rank) + ".safetensors")).string();
  models::SaveSafetensors(file, tensors, {{"format", "loom.checkpoint"}});
  Fsync(file);
  const auto [crc, bytes] = Crc(file);
  WriteFileSynced((tmp / (RankFileName(rank) + ".json")).string(), json{{"bytes", bytes}, {"crc32", crc}}.dump());
  return bytes;
}

std::string Commit(const std::string& root, const Meta& meta, int keep) {
  const fs::path tmp = fs::path(root) / (".tmp-" + StepDirName(meta.step));
  json j = MetaToJson(meta);
  json files = json::object();
  for (int r = 0; r < meta.world; ++r) {
    const auto side = tmp / (RankFileName(r) + ".json");
    std::ifstream in(side);
    const auto s = in ? json::parse(in, nullptr, false) : json();
    if (!s.is_object()) throw Error("checkpoint commit: rank " + std::to_string(r) + " wrote no " + side.string());
    files[RankFileName(r) + ".safetensors"] = s;
    in.close();
    fs::remove(side);
  }
  j["files"] = files;
  // Rank files of a larger world that a crashed earlier attempt left here.
  for (const auto& e : fs::directory_iterator(tmp)) {
    const auto name = e.path().filename().string();
    if (name.rfind("rank-", 0) == 0 && std::atoi(name.c_str() + 5) >= meta.world) fs::remove(e.path());
  }
  WriteFileSynced((tmp / "meta.json").string(), j.dump(2));
  const fs::path dir = fs::path(root) / StepDirName(meta.step);
  if (fs::exists(dir)) fs::remove_all(dir);  // a committed save of the same step (a rerun): replaced whole
  fs::rename(tmp, dir);
  Fsync(root);
  WriteFileSynced((fs::path(root) / "latest.tmp").string(), StepDirName(meta.step) + "\n");
  fs::rename(fs::path(root) / "latest.tmp", fs::path(root) / "latest");
  Fsync(root);
  auto all = List(root);
  for (size_t i = 0; keep > 0 && all.size() - i > static_cast<size_t>(keep); ++i) fs::remove_all(all[i]);
  const std::string tmp_prefix = ".tmp-step-";
  for (const auto& e : fs::directory_iterator(root)) {  // saves that crashed before committing
    const auto name = e.path().filename().string();
    if (name.rfind(tmp_prefix, 0) == 0 && std::atoll(name.c_str() + tmp_prefix.size()) < meta.step) {
      std::error_code ec;
      fs::remove_all(e.path(), ec);
    }
  }
  return dir.string();
}

std::vector<std::string> List(const std::string& root) {
  std::vector<std::string> out;
  if (!fs::is_directory(root)) return out;
  for (const auto& e : fs::directory_iterator(root)) {
    const auto name = e.path().filename().string();
    if (e.is_directory() && name.rfind("step-", 0) == 0 && fs::exists(e.path() / "meta.json")) out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string Resolve(const std::string& where, const std::string& default_root) {
  const std::string root = where.empty() || where == "latest" ? default_root : where;
  if (fs::exists(fs::path(root) / "meta.json")) return root;
  std::ifstream in(fs::path(root) / "latest");
  std::string name;
  if (in && std::getline(in, name) && !name.empty() && fs::exists(fs::path(root) / name / "meta.json")) {
    return (fs::path(root) / name).string();
  }
  throw ConfigError(ErrorWithFix("no committed checkpoint at " + root + " (no meta.json, no 'latest')",
                                 "pass a checkpoint directory (loom checkpoint list ROOT) or train with "
                                 "train.checkpoint_every > 0 first"));
}

std::string ResolveIfAny(const std::string& root) {
  if (!fs::exists(fs::path(root) / "latest") && List(root).empty()) return "";
  return Resolve(root, root);
}

Reader Reader::Open(const std::string& dir) {
  Reader r;
  r.dir_ = dir;
  const std::string meta_path = (fs::path(dir) / "meta.json").string();
  std::ifstream in(meta_path);
  const auto j = in ? json::parse(in, nullptr, false) : json();
  const std::string fix = "resume from another checkpoint (loom checkpoint list), or start the run afresh";
  if (!j.is_object() || j.value("format", "") != "loom.checkpoint" || j.value("version", 0) != kVersion) {
    throw ConfigError(ErrorWithFix(meta_path + " is not a loom.checkpoint v" + std::to_string(kVersion) + " file", fix));
  }
  try {
    Meta& m = r.meta_;
    m.step = j.at("step"), m.world = j.at("world"), m.data_position = j.at("data_position");
    m.adam_step = j.at("adam_step"), m.run_id = j.at("run_id"), m.family = j.at("family");
    m.num_parameters = j.at("num_parameters");
    if (j.contains("config") && j.at("config").is_object()) m.config_json = j.at("config").dump();
    for (const auto& [name, p] : j.at("params").items()) m.params[name] = p.at("shape").get<std::vector<int64_t>>();
    for (int rank = 0; rank < m.world; ++rank) {
      const std::string name = RankFileName(rank) + ".safetensors";
      const std::string path = (fs::path(dir) / name).string();
      if (!fs::exists(path)) throw ConfigError(ErrorWithFix(path + " is missing (rank " + std::to_string(rank) + " of " + std::to_string(m.world) + ")", fix));
      const auto& want = j.at("files").at(name);
      const auto [crc, bytes] = Crc(path);
      if (bytes != want.at("bytes").get<int64_t>()) {
        throw ConfigError(ErrorWithFix(path + " has " + std::to_string(bytes) + " bytes, the checkpoint wrote " +
                                           std::to_string(want.at("bytes").get<int64_t>()) + " (truncated or replaced)",
                                       fix));
      }
      if (crc != want.at("crc32").get<uint32_t>()) {
        throw ConfigError(ErrorWithFix(path + ": CRC-32 mismatch (the file is damaged)", fix));
      }
      auto file = models::SafetensorsFile::Open(path);
      const size_t index = r.files_.size();
      for (const auto& t : file->Names()) {
        if (t == "rng") continue;
        const auto a = t.find('|'), b = t.rfind('|');
        if (a == std::string::npos || a == b) continue;
        const std::string key = t.substr(0, b);
        r.index_[key].push_back({std::stoll(t.substr(b + 1)), file->Get(t).numel(), index, t});
      }
      r.files_.push_back(file);
    }
  } catch (const nlohmann::json::exception& e) {
    throw ConfigError(ErrorWithFix(meta_path + ": " + e.what(), fix));
  }
  for (auto& [key, slices] : r.index_) {
    std::sort(slices.begin(), slices.end(), [](const Slice& a, const Slice& b) { return a.begin < b.begin; });
  }
  return r;
}

bool Reader::Has(const std::string& kind, const std::string& param) const { return index_.count(kind + "|" + param) > 0; }

void Reader::Fill(const std::string& kind, const std::string& param, int64_t begin, at::Tensor out) const {
  const int64_t end = begin + out.numel();
  auto it = index_.find(kind + "|" + param);
  int64_t covered = begin;  // every position below this is filled (slices sorted by begin)
  if (it != index_.end()) {
    for (const auto& s : it->second) {
      const int64_t lo = std::max(covered, s.begin), hi = std::min(end, s.begin + s.numel);
      if (lo > covered) break;  // a gap
      if (hi <= lo) continue;
      const auto& file = *std::static_pointer_cast<models::SafetensorsFile>(files_[s.file]);
      out.slice(0, lo - begin, hi - begin).copy_(file.Get(s.name).slice(0, lo - s.begin, hi - s.begin));
      covered = hi;
      if (covered >= end) break;
    }
  }
  if (covered < end) {
    throw ConfigError(ErrorWithFix(dir_ + ": no file holds positions [" + std::to_string(covered) + ", " +
                                       std::to_string(end) + ") of " + kind + " '" + param + "'",
                                   "resume from a checkpoint of this model (loom checkpoint inspect DIR)"));
  }
}

at::Tensor Reader::Rng(int rank) const {
  const size_t i = rank >= 0 && static_cast<size_t>(rank) < files_.size() ? static_cast<size_t>(rank) : 0;
  const auto& file = *std::static_pointer_cast<models::SafetensorsFile>(files_[i]);
  if (!file.Has("rng")) return {};
  return file.Get("rng").to(at::kByte);
}

}  // namespace loom::checkpoint
