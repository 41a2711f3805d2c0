#include "models/vision/vision_config.h"

#include <set>

#include "ops/base/error.h"

namespace loom::models {
namespace {

using json = nlohmann::json;

[[noreturn]] void Fail(const std::string& source, const std::string& what, const std::string& fix) {
  throw ConfigError(ErrorWithFix(source + ": " + what, fix));
}

// Keys that do not change the math.
const std::set<std::string> kIgnored = {"model_type", "initializer_range", "transformers_version", "torch_dtype",
                                        "dtype", "_name_or_path", "architectures", "return_dict",
                                        "output_attentions", "output_hidden_states"};
const std::set<std::string> kKnown = {"depth", "embed_dim", "hidden_size", "num_heads", "mlp_ratio",
                                      "in_channels", "in_chans", "patch_size", "spatial_merge_size",
                                      "temporal_patch_size", "hidden_act", "spatial_patch_size"};

}  // namespace

void Qwen2VisionConfig::Validate(const std::string& source) const {
  for (const auto& [name, v] : {std::pair<const char*, int64_t>{"depth", depth}, {"embed_dim", embed_dim},
                                {"hidden_size", hidden_size}, {"num_heads", num_heads}, {"in_channels", in_channels},
                                {"patch_size", patch_size}, {"spatial_merge_size", spatial_merge_size},
                                {"temporal_patch_size", temporal_patch_size}}) {
    if (v < 1) Fail(source, std::string(name) + " = " + std::to_string(v), std::string("set ") + name + " to at least 1");
  }
  if (embed_dim % num_heads != 0) {
    Fail(source, "num_heads " + std::to_string(num_heads) + " does not divide embed_dim " + std::to_string(embed_dim),
         "pick num_heads among the divisors of embed_dim");
  }
  if (head_dim() % 4 != 0) {
    Fail(source, "head_dim " + std::to_string(head_dim()) + " (embed_dim / num_heads) is not a multiple of 4",
         "the 2-D rotary splits each head in (h, w) halves of even size: pick embed_dim / num_heads % 4 == 0");
  }
  if (mlp_dim() < 1) Fail(source, "mlp_ratio gives an empty MLP", "set mlp_ratio > 0");
}

int64_t Qwen2VisionConfig::NumParameters() const {
  const int64_t e = embed_dim, m = mlp_dim(), merged = e * merge_units();
  const int64_t block = 4 * e /*norm1, norm2*/ + 3 * e * e + 3 * e /*qkv*/ + e * e + e /*proj*/ + e * m + m + m * e + e;
  const int64_t merger = 2 * e /*ln_q*/ + merged * merged + merged + merged * hidden_size + hidden_size;
  return e * patch_dim() + depth * block + merger;
}

Qwen2VisionConfig Qwen2VisionConfigFromJson(const json& j, const std::string& source) {
  Qwen2VisionConfig c;
  for (auto& [key, value] : j.items()) {
    if (!kIgnored.count(key) && !kKnown.count(key)) {
      Fail(source, "unsupported vision key '" + key + "' = " + value.dump(),
           "remove it if it does not change the tower, or use a Qwen2-VL vision config");
    }
  }
  try {
    c.depth = j.value("depth", c.depth);
    c.embed_dim = j.value("embed_dim", c.embed_dim);
    c.hidden_size = j.value("hidden_size", c.hidden_size);
    c.num_heads = j.value("num_heads", c.num_heads);
    c.mlp_ratio = j.value("mlp_ratio", c.mlp_ratio);
    c.in_channels = j.value("in_channels", j.value("in_chans", c.in_channels));
    c.patch_size = j.value("patch_size", j.value("spatial_patch_size", c.patch_size));
    c.spatial_merge_size = j.value("spatial_merge_size", c.spatial_merge_size);
    c.temporal_patch_size = j.value("temporal_patch_size", c.temporal_patch_size);
    c.initializer_range = j.value("initializer_range", c.initializer_range);
    const std::string act = j.value("hidden_act", std::string("quick_gelu"));
    if (act != "quick_gelu") {
      Fail(source, "vision hidden_act '" + act + "' is not supported", "Qwen2-VL's tower uses quick_gelu");
    }
  } catch (const json::exception& e) {
    Fail(source, std::string("malformed vision config: ") + e.what(), "fix the value's type");
  }
  c.Validate(source);
  return c;
}

json Qwen2VisionConfigToJson(const Qwen2VisionConfig& c) {
  return json{{"model_type", "qwen2_vl"},
              {"depth", c.depth},
              {"embed_dim", c.embed_dim},
              {"hidden_size", c.hidden_size},
              {"num_heads", c.num_heads},
              {"mlp_ratio", c.mlp_ratio},
              {"in_channels", c.in_channels},
              {"patch_size", c.patch_size},
              {"spatial_merge_size", c.spatial_merge_size},
              {"temporal_patch_size", c.temporal_patch_size},
              {"hidden_act", "quick_gelu"},
              {"initializer_range", c.initializer_range}};
}

}  // namespace loom::models
