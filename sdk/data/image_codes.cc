#include "sdk/data/image_codes.h"

#include <filesystem>
#include <fstream>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <stb_image_write.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "ops/base/error.h"
#include "sdk/data/image_decode.h"

namespace loom::data {

int64_t VqImageSide(const models::JanusVqConfig& c) {
  return c.num_patches << (static_cast<int64_t>(c.channel_multiplier.size()) - 1);
}

at::Tensor LoadVqImage(const std::string& path, int64_t side) {
  auto rgb = DecodeImageFile(path).to(at::kFloat).unsqueeze(0);  // (1, 3, H, W) 0..255
  if (rgb.size(2) != side || rgb.size(3) != side) {
    rgb = at::upsample_bilinear2d(rgb, {side, side}, /*align_corners=*/false).clamp(0, 255);
  }
  return rgb / 127.5 - 1.0;
}

void WritePng(const at::Tensor& pixels, const std::string& path) {
  // (3, H, W) [-1, 1] -> (H, W, 3) uint8, row-major as stb writes it.
  const auto hwc = ((pixels.detach().to(at::kFloat).clamp(-1, 1) + 1) * 127.5).round().to(at::kByte).permute({1, 2, 0}).contiguous();
  const int h = static_cast<int>(hwc.size(0)), w = static_cast<int>(hwc.size(1));
  if (!stbi_write_png(path.c_str(), w, h, 3, hwc.data_ptr<uint8_t>(), w * 3)) {
    throw Error(ErrorWithFix("cannot write the PNG " + path, "check the directory exists and is writable"));
  }
}

ImageCodec::ImageCodec(const std::string& dir) : dir_(dir) {
  const std::string config_path = dir + "/config.json";
  std::ifstream in(config_path);
  const auto j = in ? nlohmann::json::parse(in, nullptr, false) : nlohmann::json();
  if (!j.is_object() || j.value("model_type", std::string()) != "janus_vqgan") {
    throw ConfigError(ErrorWithFix(
        dir + " is not an image tokenizer (" + config_path + " is missing or its model_type is not janus_vqgan)",
        "pass the final/ directory of `loom train` on a janus_vqgan config, or a saved transformers JanusVQVAE"));
  }
  vq_ = std::make_shared<models::JanusVqModel>(models::JanusVqConfigFromJson(j, config_path));
  vq_->LoadFrom(dir);
}

std::vector<int32_t> ImageCodec::Encode(const std::string& path) {
  torch::NoGradGuard no_grad;
  const auto codes = vq_->Encode(LoadVqImage(path, VqImageSide(config()))).codes.reshape({-1}).to(at::kInt).contiguous();
  return {codes.data_ptr<int32_t>(), codes.data_ptr<int32_t>() + codes.numel()};
}

at::Tensor ImageCodec::Decode(const at::Tensor& codes) {
  torch::NoGradGuard no_grad;
  return vq_->Decode(codes.to(at::kLong));
}

}  // namespace loom::data
