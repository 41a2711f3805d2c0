// PackedBatch: what the data pipeline hands the trainer for one micro-batch.
//
// Several documents are packed into each row; `doc_ids` marks which document
// each position belongs to so attention never crosses documents, and
// `position_ids` restart at 0 at every document start. Shapes (B rows, T
// positions), all int64 on CPU:
//   input_ids     (B, T)  token ids; padding positions hold pad_id
//   labels        (B, T)  next-token targets, -100 where no loss is taken
//                         (padding, and the last position of each document)
//   position_ids  (B, T)  0,1,2,... within each document; 0 on padding
//   doc_ids       (B, T)  document index within the row (0,1,2,...); -1 on padding
//   media         the rows' images and videos (omni models; empty for text),
//                 in the order of their placeholder runs, row by row
//   loss_groups   (B, T)  conversations only: the LossGroup of each position's
//                         conversation (-1 on padding and skipped samples), so
//                         the trainer reports the loss per modality mix
//   segments      each row's runs of one document, computed once by the
//                 collator (attention reads them instead of re-deriving them
//                 from doc_ids in every layer)
//   read          what the loader met making this batch: conversations
//                 read, and bad ones skipped by reason (chat datasets)
//
// An omni batch leaves position_ids undefined: the model derives its M-RoPE
// positions from the ids, grids and documents.
#pragma once

#include <array>
#include <memory>
#include <string>

#include <ATen/core/Tensor.h>

#include "models/core/trainable_model.h"
#include "ops/attention/attention.h"

namespace loom::data {

constexpr int64_t kIgnoreIndex = -100;

// What a conversation holds besides text; its labels' loss group.
// kImageOut: the positions whose label is an image code (the image-token
// loss of a model with an image decoder), whatever the conversation.
enum class LossGroup : int64_t { kText = 0, kImage = 1, kAudio = 2, kImageAudio = 3, kImageOut = 4 };
constexpr int kLossGroups = 5;
const char* LossGroupName(int group);  // "text", "image", "audio", "image+audio", "image_out"

// Why a loader skipped a sample while reading (the builder's reasons are in
// the dataset's report): kTooLong counts conversations longer than a row.
enum class BadSample : int { kMissingFile = 0, kCorruptImage, kCorruptAudio, kChangedFile, kTooLong };
constexpr int kBadSampleReasons = 5;
const char* BadSampleName(int reason);  // "missing file", "corrupt image", ...

struct ReadStats {
  int64_t samples = 0;  // conversations read (bad ones included)
  std::array<int64_t, kBadSampleReasons> bad{};
  std::string last_bad;  // "PATH: why" of the last bad sample, for errors
  int64_t bad_total() const;
};

struct PackedBatch {
  at::Tensor input_ids;
  at::Tensor labels;
  at::Tensor position_ids;
  at::Tensor doc_ids;
  models::MediaInputs media{};
  at::Tensor loss_groups{};
  std::shared_ptr<const ops::PackedSegments> segments{};
  ReadStats read{};

  int64_t rows() const { return input_ids.size(0); }
  int64_t seq_len() const { return input_ids.size(1); }
};

// A deterministic stream of micro-batches for one data rank (PackedLoader
// for text, ChatLoader for conversations with media): what the Trainer reads.
class BatchStream {
 public:
  virtual ~BatchStream() = default;
  virtual PackedBatch Next() = 0;
  virtual bool done() const = 0;
  // Batches returned so far; Seek(p) continues as if p had been returned.
  virtual int64_t position() const = 0;
  virtual void Seek(int64_t position) = 0;
};

}  // namespace loom::data
