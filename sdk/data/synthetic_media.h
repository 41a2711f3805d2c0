// Synthetic media for omni training until multimodal datasets land (the data
// issue): real text rows from the packed loader, each given at most one
// image and one audio clip whose placeholder tokens replace some of its
// tokens. The media are random (N(0, 1) pixel patches and log-mel frames),
// so the model learns nothing from them; what this exercises is every
// component's forward, backward and collectives, with ranks holding
// different modality mixes in one step.
//
// Per row, from a hash of its tokens and `seed` (so the same row gets the
// same media on any rank of any layout, and a distributed run equals one
// process): none, an image, a clip, or both (a kind the model lacks becomes
// none). An image is a 1 x gh x gw patch grid, gh, gw in {2, 4} x merge / 2
// (1, 2 or 4 LLM tokens after the merge), written
// [vision_start] image_pad x n [vision_end]; a clip has the encoder's full
// frame count or about half of it, written audio_pad x (its output rows).
// Both go inside the row's longest document, from its second position (the
// image first); media that do not fit are left out. Labels on the
// placeholders and on the position predicting the first one become -100.
#pragma once

#include <cstdint>

#include "models/omni/omni_config.h"
#include "sdk/data/batch.h"

namespace loom::data {

// Adds the media to `batch` in place (its media must be empty).
void AddSyntheticMedia(PackedBatch* batch, const models::OmniConfig& config, uint64_t seed);

}  // namespace loom::data
