// Target images as codes: a VQ image tokenizer (models::JanusVqModel, e.g.
// one Loom trained: `loom train` on a janus_vqgan config) turns an image
// file into its code ids at data-build time, and codes back into pixels and
// PNG files at generation time.
//
// Images are decoded to RGB (image_decode.h), resized bilinearly to the
// VQ's side (num_patches x 2^(levels - 1)) and scaled to [-1, 1], as
// `loom train` on a janus_vqgan config reads them.
//
// Legend: H x W pixels, S the VQ's side.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "models/image/janus_vq.h"

namespace loom::data {

// The side in pixels of the images a VQ encodes and decodes.
int64_t VqImageSide(const models::JanusVqConfig& c);
// (1, 3, side, side) fp32 in [-1, 1]; DataError naming a file that does not decode.
at::Tensor LoadVqImage(const std::string& path, int64_t side);
// Writes (3, H, W) pixels in [-1, 1] as an RGB PNG; Error naming the path when it cannot.
void WritePng(const at::Tensor& pixels, const std::string& path);

class ImageCodec {
 public:
  // `dir`: a janus_vqgan model directory (config.json + model.safetensors);
  // ConfigError naming it and the fix when it is not one.
  explicit ImageCodec(const std::string& dir);
  const std::string& dir() const { return dir_; }
  const models::JanusVqConfig& config() const { return vq_->config(); }
  int64_t tokens() const { return config().num_patches * config().num_patches; }  // codes per image
  // The image file's codes, row-major over the code grid (tokens() of them).
  std::vector<int32_t> Encode(const std::string& path);
  // codes (B, tokens()) -> pixels (B, 3, side, side) in [-1, 1].
  at::Tensor Decode(const at::Tensor& codes);

 private:
  std::string dir_;
  std::shared_ptr<models::JanusVqModel> vq_;
};

}  // namespace loom::data
