// Image files -> RGB tensors, through stb_image (Debian libstb): PNG
// (gray, gray + alpha, palette, RGB, RGBA; 16-bit reduced to 8), JPEG, BMP, GIF (first
// frame). Alpha is dropped, not composited, and gray is replicated, as
// PIL's Image.convert("RGB") does (what transformers' processors call).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include <ATen/core/Tensor.h>

namespace loom::data {

// (3, H, W) uint8. A missing, unreadable or corrupt file is a loom::DataError
// naming the file and stb_image's reason.
at::Tensor DecodeImageFile(const std::string& path);
// The same from bytes in memory; `name` names them in errors.
at::Tensor DecodeImage(const uint8_t* bytes, size_t size, const std::string& name);

}  // namespace loom::data
