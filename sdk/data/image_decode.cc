#include "sdk/data/image_decode.h"

#include <fstream>
#include <iterator>
#include <vector>

#include <ATen/ATen.h>
#include <stb_image.h>

#include "ops/base/error.h"

namespace loom::data {

at::Tensor DecodeImage(const uint8_t* bytes, size_t size, const std::string& name) {
  if (size > static_cast<size_t>(INT32_MAX)) {
    throw DataError(ErrorWithFix(name + ": " + std::to_string(size) + " bytes is too large to decode",
                                 "use images under 2 GiB"));
  }
  int w = 0, h = 0, channels = 0;
  stbi_uc* rgb = stbi_load_from_memory(bytes, static_cast<int>(size), &w, &h, &channels, 3);
  if (!rgb) {
    throw DataError(ErrorWithFix(name + ": cannot decode the image (" + std::string(stbi_failure_reason()) + ")",
                                 "use an intact PNG, JPEG, BMP or GIF file"));
  }
  // (H, W, 3) interleaved -> (3, H, W), owned by the tensor.
  auto hwc = at::from_blob(rgb, {h, w, 3}, at::kByte);
  auto chw = hwc.permute({2, 0, 1}).contiguous();
  stbi_image_free(rgb);
  return chw;
}

at::Tensor DecodeImageFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DataError(ErrorWithFix(path + ": cannot open the image", "check that the file exists and is readable"));
  const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return DecodeImage(bytes.data(), bytes.size(), path);
}

}  // namespace loom::data
