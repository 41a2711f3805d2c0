// Sharded training checkpoints: what each rank holds, as slices of the
// flattened full parameters, so any other layout can read back its own.
//
// On disk (ROOT is run.dir/run.name/checkpoints):
//   ROOT/step-00000010/meta.json   {"format": "loom.checkpoint", "version": 1,
//                                   "step", "world", "data_position" (global
//                                   rows consumed), "adam_step", "run_id",
//                                   "family", "num_parameters",
//                                   "params": {name: {"shape": [...]}},
//                                   "config": the resolved run config,
//                                   "files": {"rank-00000.safetensors":
//                                             {"bytes", "crc32"}, ...}}
//   ROOT/step-00000010/rank-00000.safetensors
//                                  1-D fp32 tensors "KIND|PARAM|BEGIN": values
//                                  [BEGIN, BEGIN + n) of the flattened PARAM
//                                  (KIND: param, exp_avg, exp_avg_sq), and
//                                  "rng" (the rank's CPU generator state)
//   ROOT/latest                    the name of the last committed step dir
// A save writes under ROOT/.tmp-step-N (every file fsynced), then rank 0
// writes meta.json, renames the directory to step-N and replaces `latest`
// (write + rename), then removes all but the newest `keep`. A crash at any
// moment leaves the last committed checkpoint whole; a .tmp directory is
// never read.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace loom::checkpoint {

struct Piece {
  std::string kind;    // "param", "exp_avg", "exp_avg_sq"
  std::string param;   // the model's parameter name
  int64_t begin = 0;   // first position in the flattened full parameter
  at::Tensor values;   // 1-D
};

struct Meta {
  int64_t step = 0;
  int world = 1;
  int64_t data_position = 0;  // global rows the loaders returned (every data rank's)
  int64_t adam_step = 0;      // AdamW's step count (0: no optimizer state)
  int64_t run_id = 0;
  std::string family;
  int64_t num_parameters = 0;
  std::map<std::string, std::vector<int64_t>> params;  // name -> full shape
  std::string config_json;    // the resolved config that wrote it ("" in older files)
};

std::string StepDirName(int64_t step);

// One rank's part of the save of `step` under `root` (its file and a sidecar
// with its size and CRC-32, both fsynced). Every rank calls it, then
// (after a barrier) rank 0 calls Commit. Returns the file's size in bytes.
int64_t WriteRankFile(const std::string& root, int64_t step, int rank, const std::vector<Piece>& pieces,
                   const at::Tensor& rng);

// Rank 0: meta.json, the rename, `latest`, pruning to the newest `keep`
// (and removing what crashed saves of earlier steps left under .tmp-*).
// Returns the committed directory.
std::string Commit(const std::string& root, const Meta& meta, int keep);

// A checkpoint directory from `where`: a step directory itself, or a root
// (or "latest" meaning `default_root`) whose `latest` names one.
// ConfigError naming the path and the fix when there is none.
std::string Resolve(const std::string& where, const std::string& default_root);
// As Resolve, but "" when `root` holds no committed checkpoint at all
// (train.resume: auto). A `latest` naming a missing directory still throws.
std::string ResolveIfAny(const std::string& root);

// The committed step directories under root, oldest first.
std::vector<std::string> List(const std::string& root);

class Reader {
 public:
  // Checks meta.json, every rank file's presence, size and CRC-32:
  // ConfigError naming the file and the fix otherwise.
  static Reader Open(const std::string& dir);

  const Meta& meta() const { return meta_; }
  const std::string& dir() const { return dir_; }
  bool Has(const std::string& kind, const std::string& param) const;
  // Copies positions [begin, begin + out.numel()) of the flattened `param`
  // (of `kind`) into the 1-D `out` from whichever files hold them (only
  // those bytes are read: the files are memory-mapped). ConfigError when a
  // position is in no file.
  void Fill(const std::string& kind, const std::string& param, int64_t begin, at::Tensor out) const;
  // The CPU generator state `rank` saved (rank 0's when there was no such rank).
  at::Tensor Rng(int rank) const;

  struct Slice {
    int64_t begin = 0, numel = 0;
    size_t file = 0;
    std::string name;
  };

 private:
  std::string dir_;
  Meta meta_;
  std::vector<std::shared_ptr<void>> files_;  // models::SafetensorsFile, kept open
  std::map<std::string, std::vector<Slice>> index_;  // "KIND|PARAM" -> slices by begin
};

}  // namespace loom::checkpoint
