#include "sdk/train/sequence_slice.h"

#include <ATen/ATen.h>

#include "ops/base/error.h"
#include "ops/base/sequence_shard.h"

namespace loom::train {
namespace {

// The runs of rows right-padded to `len` positions: a padding run appended.
std::shared_ptr<const ops::PackedSegments> PaddedSegments(const std::shared_ptr<const ops::PackedSegments>& s,
                                                          int64_t len) {
  if (!s || s->seq_len == len) return s;
  auto out = std::make_shared<ops::PackedSegments>(*s);
  for (auto& row : out->rows) row.push_back({s->seq_len, len, -1});
  out->seq_len = len;
  return out;
}

int64_t PaddedLength(int64_t len, int sp_size) { return (len + sp_size - 1) / sp_size * sp_size; }

}  // namespace

data::PackedBatch SliceSequence(const data::PackedBatch& batch, int sp_rank, int sp_size) {
  if (sp_size < 1 || sp_rank < 0 || sp_rank >= sp_size) {
    throw Error("SliceSequence: rank " + std::to_string(sp_rank) + " outside sp size " + std::to_string(sp_size));
  }
  if (sp_size == 1) return batch;
  const int64_t len = batch.seq_len();
  auto doc_ids = batch.doc_ids.defined() ? batch.doc_ids : at::zeros_like(batch.input_ids);
  auto positions = batch.position_ids.defined()
                       ? batch.position_ids
                       : at::arange(len, batch.input_ids.options()).unsqueeze(0).expand_as(batch.input_ids);
  const auto cut = [&](const at::Tensor& x, int64_t value) {
    return ops::ShardSequence(x, 1, sp_rank, sp_size, static_cast<double>(value)).contiguous();
  };
  data::PackedBatch out;
  out.input_ids = cut(batch.input_ids, 0);
  out.labels = cut(batch.labels, data::kIgnoreIndex);
  out.position_ids = cut(positions, 0);
  out.doc_ids = cut(doc_ids, -1);
  if (batch.loss_groups.defined()) out.loss_groups = cut(batch.loss_groups, -1);
  out.segments = PaddedSegments(batch.segments, PaddedLength(len, sp_size));
  out.read = batch.read;
  return out;
}

data::PackedBatch SliceForModel(const models::TrainableModel& model, const data::PackedBatch& batch, int sp_rank,
                                int sp_size) {
  if (!model.SlicesSequenceItself()) return SliceSequence(batch, sp_rank, sp_size);
  if (sp_size < 1 || sp_rank < 0 || sp_rank >= sp_size) {
    throw Error("SliceForModel: rank " + std::to_string(sp_rank) + " outside sp size " + std::to_string(sp_size));
  }
  data::PackedBatch out = batch;
  out.labels = ops::ShardSequence(batch.labels, 1, sp_rank, sp_size, data::kIgnoreIndex).contiguous();
  if (batch.loss_groups.defined()) {
    out.loss_groups = ops::ShardSequence(batch.loss_groups, 1, sp_rank, sp_size, -1).contiguous();
  }
  out.segments = PaddedSegments(batch.segments, PaddedLength(batch.seq_len(), sp_size));
  return out;
}

}  // namespace loom::train
