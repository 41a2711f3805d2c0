// The (t, h, w) position ids of Qwen2-VL's multimodal RoPE, by the rules of
// transformers' Qwen2VLModel.get_rope_index:
//   - text gets t = h = w = its index, continuing after what precedes it;
//   - an image or video of patch grid (t, h, w) takes t*(h/m)*(w/m)
//     placeholder tokens (m = spatial_merge_size), which get (frame, row,
//     column) offset by the position the text before it reached;
//   - text after an image restarts at that image's largest position + 1.
// Images and videos are taken in order, over the rows, from their grids; a
// placeholder run is found from the next image/video token.
//
// Packed rows: with doc_ids, each document (a contiguous run of one id) is
// positioned on its own from 0, as if it were alone; padding (id -1) gets 1,
// as HF's masked positions. Model code: no communication.
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

namespace loom::models {

struct MropeTokens {
  int64_t image_token_id = -1;
  int64_t video_token_id = -1;
  int64_t vision_start_token_id = -1;
};

// input_ids (B, T) int64; image_grid_thw (I, 3), video_grid_thw (V, 3) int64
// patch grids (undefined = none); doc_ids (B, T) or undefined (one document
// per row). Returns (3, B, T) int64. A placeholder run that does not match
// its grid, or grids left over, is a ConfigError naming the row and image.
at::Tensor MropePositionIds(const at::Tensor& input_ids, const at::Tensor& image_grid_thw,
                            const at::Tensor& video_grid_thw, const MropeTokens& tokens, int64_t spatial_merge_size,
                            const at::Tensor& doc_ids = {});

}  // namespace loom::models
