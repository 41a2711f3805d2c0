#include "models/omni/image_out.h"

namespace loom::models {

ImageOutComponent::ImageOutComponent(const JanusVqConfig& config, at::Device device) : Module("ImageOutComponent") {
  embeddings = register_module("embeddings", std::make_shared<Embedding>(config.num_embeddings, config.embed_dim, device));
  aligner = register_module("aligner", std::make_shared<JanusVqAligner>(config, device));
  head = register_module("head", std::make_shared<JanusVqHead>(config, device));
}

at::Tensor ImageOutComponent::forward(const at::Tensor& codes) {
  return CallWithHooks(codes, [this](const at::Tensor& c) { return aligner->forward(embeddings->forward(c)); });
}

}  // namespace loom::models
