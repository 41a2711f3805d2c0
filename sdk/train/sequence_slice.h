// Splitting packed rows along the sequence for Ulysses SP.
//
// Every SP rank of a group receives the same packed micro-batch from the
// loader and keeps one contiguous slice of each row. Rows whose length is not
// a multiple of sp are first right-padded (input 0, label -100, position 0,
// document -1), so padding never reaches the loss; position and document ids
// are the row's global ones, so RoPE and document boundaries are right across
// slices.
#pragma once

#include "sdk/data/batch.h"

namespace loom::train {

// Positions [rank*S, (rank+1)*S) of every row, S = ceil(T / sp_size).
data::PackedBatch SliceSequence(const data::PackedBatch& batch, int sp_rank, int sp_size);

// What `model` is given on SP rank `sp_rank`: SliceSequence's slice, or for
// a model that slices itself (TrainableModel::SlicesSequenceItself, e.g. an
// omni model placing image embeddings first) the whole rows and media with
// only the labels sliced (pass StepOptions::sequence too).
data::PackedBatch SliceForModel(const models::TrainableModel& model, const data::PackedBatch& batch, int sp_rank,
                                int sp_size);

}  // namespace loom::train
