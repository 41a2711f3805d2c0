// The composed omni model (models/omni) against transformers'
// Qwen2VLForConditionalGeneration (oracle: tests/models/vision_oracle.py make
// qwen2_vl, a tiny random model saved by save_pretrained). One padded batch
// holds two images of different grids and a two-frame video: logits 1e-4,
// every gradient 1e-4 relative, 10 AdamW steps 1e-5 relative; a packed row
// of two documents equals each document alone; a Loom export loads in
// transformers with equal logits and reloads bit for bit. Also: both
// checkpoint layouts load, bad inputs and configs are named, and a Loom
// composition (Qwen3-MoE foundation + vision tower) saves and reloads.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "models/core/registry.h"
#include "models/core/safetensors.h"
#include "models/omni/omni_model.h"
#include "ops/base/error.h"
#include "sdk/train/optimizer.h"
#include "tests/testing/oracle.h"

namespace loom {
namespace {

namespace fs = std::filesystem;
const auto& MaxAbs = testing::MaxAbsDiff;
const auto& Relative = testing::RelativeDiff;

std::string TempDir(const std::string& what) {
  const auto dir = fs::temp_directory_path() / ("loom-omni-" + what + "-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir.string();
}

template <typename F>
std::string ErrorOf(F&& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

class OmniParityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    oracle_ = std::make_unique<testing::OracleRef>(testing::OracleScript("vision_oracle.py"), "qwen2_vl");
  }
  at::Tensor Ref(const std::string& name) { return oracle_->Get(name); }
  std::string ModelDir() const { return oracle_->dir() + "/model"; }
  // The padded batch: two images, a video, padding as doc id -1.
  models::ModelInputs Batch() {
    models::ModelInputs in;
    in.input_ids = Ref("input_ids");
    const auto mask = Ref("attention_mask");
    in.doc_ids = at::where(mask == 1, at::zeros_like(mask), at::full_like(mask, -1));
    in.media.pixel_values = Ref("pixel_values");
    in.media.image_grid_thw = Ref("image_grid_thw");
    in.media.pixel_values_videos = Ref("pixel_values_videos");
    in.media.video_grid_thw = Ref("video_grid_thw");
    return in;
  }
  at::Tensor Valid() { return Ref("attention_mask").to(at::kBool); }
  std::unique_ptr<testing::OracleRef> oracle_;
};

TEST_F(OmniParityTest, LoadsTheTransformersDirectoryAndMatchesLogits) {
  auto model = models::LoadOmniModel(ModelDir());
  EXPECT_EQ(model->family(), "qwen2_vl");
  EXPECT_EQ(model->config().llm.rope_scaling.type, "mrope");
  EXPECT_EQ(model->NumParameters(), [&] {
    int64_t n = 0;
    for (const auto& p : model->parameters()) n += p.numel();
    return n;
  }());
  torch::NoGradGuard no_grad;
  const auto logits = model->Logits(Batch()), want = Ref("logits");
  const auto valid = Valid();
  EXPECT_LE(MaxAbs(logits.index({valid}), want.index({valid})), 1e-4);
  EXPECT_GT(want.abs().max().item<double>(), 1.0) << "a reference this small could not tell a bug";
  // Without the pixels the image positions see plain token embeddings: the
  // check above could not pass with the vision path broken.
  auto text_only = Batch();
  text_only.media = {};
  text_only.position_ids = model->PositionIds(Batch());
  auto blind = model->llm->Logits(text_only);
  EXPECT_GT(MaxAbs(blind.index({valid}), want.index({valid})), 1e-2);
}

TEST_F(OmniParityTest, LossAndEveryGradientMatch) {
  auto model = models::LoadOmniModel(ModelDir());
  const auto labels = Ref("labels");
  const double count = (labels != -100).sum().item<double>();
  auto loss = model->LossSum(Batch(), labels, /*chunk=*/5) / count;
  EXPECT_LE(std::abs(loss.item<double>() - Ref("loss").item<double>()), 1e-5 * Ref("loss").item<double>());
  loss.backward();
  int checked = 0, vision = 0;
  for (const auto& p : model->named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_LE(Relative(p.value().grad(), Ref("grad." + p.key())), 1e-4) << p.key();
    ++checked;
    vision += p.key().rfind("vision.", 0) == 0;
  }
  EXPECT_EQ(checked, 58);  // the oracle's parameter count: 31 vision + 27 LLM
  EXPECT_EQ(vision, 31);
}

TEST_F(OmniParityTest, TenAdamWStepsMatch) {
  auto model = models::LoadOmniModel(ModelDir());
  const auto labels = Ref("labels"), want = Ref("train_losses");
  const double count = (labels != -100).sum().item<double>();
  const auto got = testing::OracleAdamWLosses(
      model->parameters(), [&] { return model->LossSum(Batch(), labels, 7) / count; }, want.size(0));
  for (int64_t step = 0; step < want.size(0); ++step) {
    const double w = want[step].item<double>();
    EXPECT_LE(std::abs(got[step] - w), 1e-5 * w) << "step " << step;
  }
  EXPECT_LT(want[want.size(0) - 1].item<double>(), 0.5 * want[0].item<double>()) << "the reference must learn";
}

TEST_F(OmniParityTest, PackedRowEqualsEachDocumentAlone) {
  auto model = models::LoadOmniModel(ModelDir());
  models::ModelInputs in;
  in.input_ids = Ref("packed_input_ids");
  in.doc_ids = Ref("packed_doc_ids");
  in.media = Batch().media;  // the video's document comes first: placement follows each kind's own order
  torch::NoGradGuard no_grad;
  EXPECT_LE(MaxAbs(model->Logits(in), Ref("packed_logits")), 1e-4);
}

TEST_F(OmniParityTest, ExportLoadsInTransformersAndReloadsBitForBit) {
  auto model = models::LoadOmniModel(ModelDir());
  config::TrainConfig optim;
  optim.lr = 1e-2;
  auto opt = train::BuildAdamW(model->parameters(), optim);
  const auto labels = Ref("labels");
  for (int i = 0; i < 2; ++i) {  // export a Loom-trained model, not the oracle's weights
    opt->zero_grad();
    model->LossSum(Batch(), labels, 7).backward();
    opt->step();
  }
  const std::string out = TempDir("export");
  std::vector<std::pair<std::string, at::Tensor>> state;
  for (const auto& p : model->named_parameters()) state.emplace_back(p.key(), p.value().detach());
  model->SaveExport(state, out);
  at::Tensor logits;
  {
    torch::NoGradGuard no_grad;
    logits = model->Logits(Batch());
  }
  const auto in = Batch();
  models::SaveSafetensors(out + "/expected.safetensors",
                          {{"input_ids", in.input_ids}, {"attention_mask", Ref("attention_mask")},
                           {"pixel_values", in.media.pixel_values}, {"image_grid_thw", in.media.image_grid_thw},
                           {"pixel_values_videos", in.media.pixel_values_videos},
                           {"video_grid_thw", in.media.video_grid_thw}, {"logits", logits}});
  const std::string cmd = testing::VenvPython() + " " + testing::OracleScript("vision_oracle.py") + " check_vl " +
                          out + " " + out + "/expected.safetensors > " + out + "/check.log 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << "see " << out << "/check.log";
  auto reloaded = models::LoadOmniModel(out);
  torch::NoGradGuard no_grad;
  EXPECT_EQ(MaxAbs(reloaded->Logits(Batch()), logits), 0.0);
}

TEST_F(OmniParityTest, LoadsTransformersInMemoryLayoutToo) {
  auto model = models::LoadOmniModel(ModelDir());
  // model.visual.* / model.language_model.* / lm_head.*: what state_dict() names.
  const std::string dir = TempDir("in-memory");
  fs::copy_file(ModelDir() + "/config.json", dir + "/config.json", fs::copy_options::overwrite_existing);
  std::vector<std::pair<std::string, at::Tensor>> state;
  for (const auto& p : model->named_parameters()) {
    std::string name = p.key();
    if (name.rfind("vision.", 0) == 0) name = "model.visual." + name.substr(7);
    else if (name.rfind("llm.model.", 0) == 0) name = "model.language_model." + name.substr(10);
    else name = name.substr(4);  // llm.lm_head.weight
    state.emplace_back(name, p.value().detach());
  }
  models::SaveSafetensors(dir + "/model.safetensors", state);
  auto again = models::LoadOmniModel(dir);
  for (const auto& p : model->named_parameters()) {
    EXPECT_TRUE(at::equal(p.value(), again->named_parameters()[p.key()])) << p.key();
  }
}

TEST_F(OmniParityTest, BadInputsAreNamed) {
  auto model = models::LoadOmniModel(ModelDir());
  torch::NoGradGuard no_grad;
  // One image's pixels dropped: 7 image tokens, 6 embeddings.
  auto in = Batch();
  in.media.pixel_values = in.media.pixel_values.slice(0, 0, 24);
  in.media.image_grid_thw = in.media.image_grid_thw.slice(0, 0, 1);
  in.position_ids = model->PositionIds(Batch());
  const auto e = ErrorOf([&] { model->Logits(in); });
  EXPECT_NE(e.find("7 image and 4 video placeholder tokens, but the pixels give 6 image"), std::string::npos) << e;
  // Pixels without their grid.
  auto no_grid = Batch();
  no_grid.media.video_grid_thw = at::Tensor();
  no_grid.position_ids = model->PositionIds(Batch());
  EXPECT_NE(ErrorOf([&] { model->Logits(no_grid); }).find("without their grid_thw"), std::string::npos);
  // A text model refuses media rather than ignoring it.
  auto text = Batch();
  text.position_ids = model->PositionIds(Batch());
  EXPECT_NE(ErrorOf([&] { model->llm->Logits(text); }).find("was given images or videos"), std::string::npos);
}

nlohmann::json ConfigJson(const std::string& dir) {
  std::ifstream in(dir + "/config.json");
  return nlohmann::json::parse(in);
}

// The registry builds omni models from config.json like any family, with
// one component spec per component (what a plan per component applies to).
TEST_F(OmniParityTest, TheRegistryBuildsOmniModelsWithTheirComponents) {
  auto model = models::FindFamily("qwen2_vl").build(ConfigJson(ModelDir()), "config.json", at::kMeta);
  EXPECT_EQ(model->family(), "qwen2_vl");
  const auto specs = model->component_specs();
  ASSERT_EQ(specs.size(), 2u);
  EXPECT_EQ(specs[0].module_path, "vision");
  EXPECT_EQ(specs[0].spec.fsdp_unit_pattern, "vision.blocks.*");
  EXPECT_EQ(specs[1].module_path, "llm");
  EXPECT_EQ(specs[1].spec.sp_attention_pattern, "llm.model.layers.*.self_attn");
  EXPECT_TRUE(model->SlicesSequenceItself());
  EXPECT_TRUE(model->named_parameters()["llm.lm_head.weight"].is_meta());
}

TEST_F(OmniParityTest, BadConfigsAreNamed) {
  const auto good = ConfigJson(ModelDir());
  auto error = [](nlohmann::json j) { return ErrorOf([&] { models::OmniConfigFromJson(j, "cfg.json"); }); };
  auto wide = good;
  wide["vision_config"]["hidden_size"] = 96;
  EXPECT_NE(error(wide).find("vision hidden_size 96) is not the LLM's hidden_size 64"), std::string::npos);
  auto token = good;
  token["image_token_id"] = 500;
  EXPECT_NE(error(token).find("image_token_id 500 is outside the vocabulary (size 128)"), std::string::npos);
  auto unknown = good;
  unknown["use_fancy_thing"] = true;
  EXPECT_NE(error(unknown).find("unsupported Qwen2-VL key 'use_fancy_thing'"), std::string::npos);
  auto rope = good;
  rope["text_config"].erase("rope_scaling");
  EXPECT_NE(error(rope).find("needs M-RoPE"), std::string::npos);
  auto missing = good;
  missing.erase("vision_start_token_id");
  EXPECT_NE(error(missing).find("missing integer 'vision_start_token_id'"), std::string::npos);
}

// A Loom composition: a Qwen3-MoE foundation with the Qwen2-VL tower, saved
// in Loom's own format and reloaded exactly; the MoE path records router stats.
TEST_F(OmniParityTest, LoomCompositionSavesAndReloads) {
  auto j = ConfigJson(ModelDir());
  nlohmann::json loom = {{"model_type", "loom_omni"}};
  for (const char* k : {"image_token_id", "video_token_id", "vision_start_token_id", "vision_end_token_id"}) loom[k] = j[k];
  loom["components"]["vision"] = j["vision_config"];
  loom["components"]["llm"] = {{"model_type", "qwen3_moe"}, {"vocab_size", 128}, {"hidden_size", 64},
                               {"intermediate_size", 96}, {"num_hidden_layers", 2}, {"num_attention_heads", 4},
                               {"num_key_value_heads", 2}, {"head_dim", 16}, {"num_experts", 4},
                               {"num_experts_per_tok", 2}, {"moe_intermediate_size", 32},
                               {"tie_word_embeddings", true}, {"output_router_logits", true},
                               {"rope_scaling", {{"type", "mrope"}, {"mrope_section", {2, 3, 3}}}}};
  auto model = std::make_shared<models::OmniModel>(models::OmniConfigFromJson(loom, "loom.json"));
  model->InitWeights(7);
  ASSERT_NE(model->router_stats(), nullptr);
  const auto spec = model->plan_spec();
  EXPECT_EQ(spec.fsdp_unit_pattern, "vision.blocks.*|llm.model.layers.*");
  EXPECT_EQ(spec.expert_param_pattern, "llm.model.layers.*.mlp.experts.*");
  EXPECT_EQ(model->named_parameters()["vision.merger.ln_q.weight"].min().item<double>(), 1.0) << "norm scales start at 1";
  const std::string dir = TempDir("loom");
  std::vector<std::pair<std::string, at::Tensor>> state;
  for (const auto& p : model->named_parameters()) state.emplace_back(p.key(), p.value().detach());
  model->SaveExport(state, dir);
  EXPECT_EQ(ConfigJson(dir)["model_type"], "loom_omni");
  auto again = models::LoadOmniModel(dir);
  const auto labels = Ref("labels");
  auto a = model->LossSum(Batch(), labels, 7), b = again->LossSum(Batch(), labels, 7);
  EXPECT_EQ(a.item<double>(), b.item<double>());
  EXPECT_GT(model->AuxLoss(), 0.0);
  a.backward();
  EXPECT_GT(model->named_parameters()["vision.blocks.0.attn.qkv.weight"].grad().abs().sum().item<double>(), 0.0)
      << "the text loss must reach the vision tower";
}

}  // namespace
}  // namespace loom
