// Whether a chat dataset (sdk/data/chat_dataset.h) fits the model it is to
// train: the placeholder token ids the dataset was built with equal the omni
// model's, its image patches the tower's, its audio features the encoder's
// input. Every mismatch is one ConfigError naming both values and the fix.
#pragma once

#include <string>

#include "models/omni/omni_model.h"
#include "sdk/data/chat_dataset.h"

namespace loom::train {

// `omni` null: the model is not an omni model (an error when the dataset holds media).
void CheckChatDataFits(const data::ChatDataset& dataset, const models::OmniModel* omni);

}  // namespace loom::train
