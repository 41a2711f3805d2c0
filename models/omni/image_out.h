// ImageOutComponent: an omni model's image decoder side ("image_out"), as
// VeOmni's decoder contract and Janus's generation path: a target image is
// encoded (at data-build time, by a VQ image tokenizer) into N-way code ids;
// each code is the LLM's input at its position through the generation
// embeddings and the aligner, and the head over the LLM's hidden states
// predicts the next code. Parameters, in transformers' Janus module names
// under "image_out.":
//
//   embeddings  (N, E)  JanusModel.generation_embeddings
//   aligner             JanusVQVAEAlignerMLP: E -> C (projection_dim = C)
//   head                JanusVQVAEHead: C (image_token_embed_dim) -> N
//
// Token ids: code c is id `offset + c`, with offset = the LLM's vocab size,
// an extended vocabulary [0, V) text, [V, V + N) image codes. Input ids and
// labels carry codes this way, so packing, label shifting and sequence
// slicing treat them like any token. The VQ itself (pixels <-> codes) is not
// part of the trained model. Computation only.
//
// Legend: K image positions, C the LLM's hidden size, E codebook dim, N codes.
#pragma once

#include <memory>

#include "models/core/layers.h"
#include "models/core/module.h"
#include "models/image/janus_vq.h"

namespace loom::models {

class ImageOutComponent : public Module {
 public:
  ImageOutComponent(const JanusVqConfig& config, at::Device device);
  // codes (K) int64 in [0, N) -> the LLM's input rows (K, C); through this
  // module's hooks (a per-component plan gathers its parameters here), so
  // the model calls it in every forward, with K = 0 when there are none.
  at::Tensor forward(const at::Tensor& codes);
  // hidden (..., C) -> code logits (..., N).
  at::Tensor Logits(const at::Tensor& hidden) { return head->forward(hidden); }

  std::shared_ptr<Embedding> embeddings;
  std::shared_ptr<JanusVqAligner> aligner;
  std::shared_ptr<JanusVqHead> head;
};

}  // namespace loom::models
