// Qwen3-MoE beyond HF parity (hf_parity_test.cc covers that):
//   - activation recompute (full and selective) gives the same loss, aux loss
//     and gradients: the recompute-safe aux-loss design (RouterStats) at work
//   - the HF config's layer layout, strict keys and the per-expert state
//     mapping with errors that name the tensor
//   - `loom train` on a qwen3_moe: a router forced to send most tokens to one
//     expert still trains (loss finite and falling), and the skew shows in
//     the per-expert counts of the run store; the final model reloads
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>

#include <ATen/ATen.h>
#include <torch/torch.h>

#include "models/llm/decoder_lm.h"
#include "models/llm/generate.h"
#include "models/llm/moe_state_adapter.h"
#include "ops/base/error.h"
#include "parallel/recompute/recompute.h"
#include "sdk/train/model_config.h"
#include "sdk/config/load_config.h"
#include "sdk/data/token_dataset.h"
#include "sdk/metrics/run_store.h"
#include "sdk/train/optimizer.h"
#include "sdk/train/train_step.h"
#include "sdk/train/trainer.h"
#include "tests/testing/synthetic_data.h"

namespace loom {
namespace {

namespace fs = std::filesystem;

models::LlmConfig TinyMoeConfig() {
  models::LlmConfig c;
  c.model_type = "qwen3_moe";
  c.vocab_size = 64, c.hidden_size = 32, c.intermediate_size = 48, c.num_hidden_layers = 3;
  c.num_attention_heads = 4, c.num_key_value_heads = 2, c.head_dim = 8, c.qk_norm = true;
  c.num_experts = 8, c.num_experts_per_tok = 2, c.moe_intermediate_size = 16, c.norm_topk_prob = true;
  c.mlp_only_layers = {1};
  c.router_aux_loss_coef = 0.1, c.output_router_logits = true;
  return c;
}

// Two rows, the second right-padded (doc -1), shifted labels.
data::PackedBatch PaddedBatch(uint64_t seed) {
  auto g = at::make_generator<at::CPUGeneratorImpl>(seed);
  data::PackedBatch b;
  b.input_ids = at::randint(64, {2, 10}, g);
  b.doc_ids = at::zeros_like(b.input_ids);
  b.doc_ids[1].slice(0, 7).fill_(-1);
  b.labels = at::full_like(b.input_ids, data::kIgnoreIndex);
  b.labels.slice(1, 0, -1).copy_(b.input_ids.slice(1, 1));
  b.labels.masked_fill_(b.doc_ids < 0, data::kIgnoreIndex);
  b.labels[1][6] = data::kIgnoreIndex;
  b.position_ids = at::arange(10).expand({2, 10}).contiguous();
  return b;
}

struct LossAndGrads {
  double loss = 0, aux = 0;
  std::map<std::string, at::Tensor> grads;
};

LossAndGrads RunOnce(models::DecoderLM& model, const data::PackedBatch& b) {
  model.zero_grad();
  const double count = (b.labels != data::kIgnoreIndex).sum().item<double>();
  auto loss = model.LossSum(train::InputsOf(b), b.labels, 5) / count;
  loss.backward();
  LossAndGrads r;
  r.loss = loss.item<double>() + model.AuxLoss();
  r.aux = model.router_stats()->aux_loss();
  for (const auto& p : model.named_parameters()) r.grads[p.key()] = p.value().grad().clone();
  return r;
}

class MoeRecomputeTest : public ::testing::TestWithParam<parallel::RecomputePolicy> {};

TEST_P(MoeRecomputeTest, LossAuxLossAndGradientsEqualTheNoRecomputeRun) {
  auto plain = std::make_shared<models::DecoderLM>(TinyMoeConfig());
  plain->InitWeights(11);
  auto recomputed = std::make_shared<models::DecoderLM>(TinyMoeConfig());
  recomputed->InitWeights(11);
  parallel::ApplyRecompute(*recomputed, GetParam());
  for (uint64_t seed : {1, 2}) {  // two micro-batches in a row: stats must not leak across
    const auto b = PaddedBatch(seed);
    const auto want = RunOnce(*plain, b);
    const auto got = RunOnce(*recomputed, b);
    EXPECT_LE(std::abs(got.loss - want.loss), 1e-6 * want.loss);
    EXPECT_LE(std::abs(got.aux - want.aux), 1e-6 * want.aux);
    // One record per sparse layer (2 of 3 layers) per forward: 17 tokens x top-2 each.
    EXPECT_EQ(recomputed->router_stats()->totals().counts.sum().item<int64_t>(), 2 * 17 * 2);
    double worst = 0;
    for (const auto& [name, g] : want.grads) {
      const double scale = std::max(1e-30, g.abs().max().item<double>());
      const double rel = (got.grads.at(name) - g).abs().max().item<double>() / scale;
      EXPECT_LE(rel, 1e-6) << name;
      worst = std::max(worst, rel);
    }
    std::printf("recompute %d seed %d: loss %.8f vs %.8f, aux %.8f, max relative gradient difference %.3g\n",
                static_cast<int>(GetParam()), static_cast<int>(seed), got.loss, want.loss, got.aux, worst);
  }
}

TEST_P(MoeRecomputeTest, TheAuxGradientReachesTheRouter) {
  // Same weights, aux off (coef 0): the routers' gradients must differ; the
  // parameters the router probabilities do not depend on (experts, final
  // norm, head) must not. (Everything upstream of a router - attention,
  // embeddings - legitimately gets aux gradient through the router's input.)
  auto with_aux = std::make_shared<models::DecoderLM>(TinyMoeConfig());
  with_aux->InitWeights(11);
  auto config = TinyMoeConfig();
  config.output_router_logits = false;
  auto without = std::make_shared<models::DecoderLM>(config);
  without->InitWeights(11);
  parallel::ApplyRecompute(*with_aux, GetParam());
  const auto b = PaddedBatch(3);
  const auto a = RunOnce(*with_aux, b), n = RunOnce(*without, b);
  EXPECT_NEAR(a.loss - n.loss, 0.1 * a.aux, 1e-6);
  for (const auto& [name, g] : a.grads) {
    const double diff = (g - n.grads.at(name)).abs().max().item<double>();
    if (name.find("mlp.gate.weight") != std::string::npos) {
      EXPECT_GT(diff, 1e-6) << name;
    } else if (name.rfind("model.layers.2.mlp.experts.", 0) == 0 || name == "model.norm.weight" ||
               name == "lm_head.weight") {  // after the last router
      EXPECT_LE(diff, 1e-7) << name;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Policies, MoeRecomputeTest,
                         ::testing::Values(parallel::RecomputePolicy::kFull, parallel::RecomputePolicy::kSelective),
                         [](const auto& info) {
                           return info.param == parallel::RecomputePolicy::kFull ? "Full" : "Selective";
                         });

TEST(MoeTrainStepTest, TheSameMicroBatchTwiceEqualsItOnce) {
  // The step's aux term is the mean over micro-batches (gradient scaled by
  // 1/n): accumulating a micro-batch with itself changes nothing.
  auto once = std::make_shared<models::DecoderLM>(TinyMoeConfig());
  once->InitWeights(9);
  auto twice = std::make_shared<models::DecoderLM>(TinyMoeConfig());
  twice->InitWeights(9);
  config::TrainConfig tc;
  tc.lr = 1e-2;
  auto o1 = train::BuildAdamW(once->parameters(), tc), o2 = train::BuildAdamW(twice->parameters(), tc);
  train::StepOptions so;
  so.grad_clip = 0;
  for (uint64_t seed : {4, 5}) {
    const auto b = PaddedBatch(seed);
    const auto s1 = train::TrainStep(*once, *o1, {b}, so);
    const auto s2 = train::TrainStep(*twice, *o2, {b, b}, so);
    EXPECT_NEAR(s1.loss, s2.loss, 1e-6 * s1.loss);
    EXPECT_NEAR(s1.aux_loss, s2.aux_loss, 1e-9);
    EXPECT_GT(s1.aux_loss, 1.0);
    // The loss by term: text + coef x aux, summing to the loss.
    ASSERT_EQ(s1.loss_terms.size(), 2u);
    EXPECT_EQ(s1.loss_terms[0].first, "text");
    EXPECT_EQ(s1.loss_terms[1].first, "router_aux");
    EXPECT_NEAR(s1.loss_terms[1].second, 0.1 * s1.aux_loss, 1e-12);
    EXPECT_NEAR(s1.loss_terms[0].second + s1.loss_terms[1].second, s1.loss, 1e-12);
    EXPECT_NEAR(s1.grad_norm, s2.grad_norm, 1e-5 * s1.grad_norm);
    ASSERT_EQ(s1.expert_tokens.size(), 2u);
    for (size_t l = 0; l < 2; ++l) {
      for (size_t e = 0; e < 8; ++e) EXPECT_EQ(2 * s1.expert_tokens[l][e], s2.expert_tokens[l][e]);
    }
  }
  auto p2 = twice->named_parameters();
  for (const auto& p : once->named_parameters()) {
    EXPECT_LE((p.value() - p2[p.key()]).abs().max().item<double>(), 1e-6) << p.key();
  }
}

TEST(MoeTrainStepTest, Bf16AutocastStaysCloseToFp32) {
  auto fp32 = std::make_shared<models::DecoderLM>(TinyMoeConfig());
  fp32->InitWeights(9);
  auto bf16 = std::make_shared<models::DecoderLM>(TinyMoeConfig());
  bf16->InitWeights(9);
  config::TrainConfig tc;
  auto o1 = train::BuildAdamW(fp32->parameters(), tc), o2 = train::BuildAdamW(bf16->parameters(), tc);
  train::StepOptions so;
  const auto b = PaddedBatch(6);
  const auto s1 = train::TrainStep(*fp32, *o1, {b}, so);
  so.bf16 = true;
  const auto s2 = train::TrainStep(*bf16, *o2, {b}, so);
  EXPECT_TRUE(std::isfinite(s2.loss) && std::isfinite(s2.grad_norm));
  EXPECT_NEAR(s2.loss, s1.loss, 2e-2 * s1.loss);  // bf16: loose, stated
  EXPECT_EQ(bf16->parameters()[0].scalar_type(), at::kFloat);
}

TEST(MoeConfigTest, LayersAreSparseExactlyAsHfDecides) {
  auto c = TinyMoeConfig();
  EXPECT_TRUE(c.IsSparseLayer(0));
  EXPECT_FALSE(c.IsSparseLayer(1));  // mlp_only_layers
  EXPECT_TRUE(c.IsSparseLayer(2));
  c.mlp_only_layers.clear();
  c.decoder_sparse_step = 2;
  EXPECT_FALSE(c.IsSparseLayer(0));
  EXPECT_TRUE(c.IsSparseLayer(1));
  EXPECT_FALSE(c.IsSparseLayer(2));
  models::DecoderLM model(TinyMoeConfig());
  EXPECT_EQ(model.sparse_layers(), (std::vector<int64_t>{0, 2}));
  EXPECT_EQ(model.named_parameters()["model.layers.0.mlp.experts.gate_proj"].sizes(), (at::IntArrayRef{8, 16, 32}));
  EXPECT_EQ(model.named_parameters()["model.layers.2.mlp.experts.down_proj"].sizes(), (at::IntArrayRef{8, 32, 16}));
  EXPECT_EQ(model.named_parameters()["model.layers.1.mlp.gate_proj.weight"].sizes(), (at::IntArrayRef{48, 32}));
  int64_t numel = 0;
  for (const auto& p : model.parameters()) numel += p.numel();
  EXPECT_EQ(numel, TinyMoeConfig().NumParameters());
}

TEST(MoeConfigTest, StrictKeysRoundTripAndBadTopK) {
  auto j = models::LlmConfigToJson(TinyMoeConfig());
  EXPECT_EQ(j["architectures"][0], "Qwen3MoeForCausalLM");
  auto back = models::LlmConfigFromJson(j, "config.json");
  EXPECT_EQ(back.mlp_only_layers, (std::vector<int64_t>{1}));
  EXPECT_TRUE(back.norm_topk_prob);
  EXPECT_DOUBLE_EQ(back.AuxLossCoef(), 0.1);
  auto dense = j;
  dense["model_type"] = "qwen3";
  EXPECT_THROW(models::LlmConfigFromJson(dense, "config.json"), ConfigError) << "MoE keys on a dense model";
  auto bad = j;
  bad["num_experts_per_tok"] = 9;
  try {
    models::LlmConfigFromJson(bad, "config.json");
    FAIL() << "top-k > num_experts must be rejected";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("num_experts_per_tok 9"), std::string::npos) << e.what();
  }
}

TEST(MoeConfigTest, TheSampleConfigDescribesAQwen3Moe) {
  const auto cfg = config::LoadConfig(LOOM_SOURCE_DIR "/samples/configs/tiny_qwen3_moe.yaml");
  const auto c = train::ModelConfigOf(cfg.model);
  EXPECT_TRUE(c.IsMoe());
  EXPECT_TRUE(c.qk_norm);
  EXPECT_EQ(c.NumSparseLayers(), c.num_hidden_layers);
  EXPECT_EQ(c.num_experts, 8);
  EXPECT_GT(c.AuxLossCoef(), 0.0);
}

TEST(MoeStateTest, ExportIsPerExpertAndAMissingExpertIsNamed) {
  auto model = std::make_shared<models::DecoderLM>(TinyMoeConfig());
  model->InitWeights(5);
  auto state = model->StateForExport();
  std::set<std::string> names;
  for (const auto& [n, t] : state) names.insert(n);
  EXPECT_TRUE(names.count("model.layers.2.mlp.experts.7.down_proj.weight"));
  EXPECT_TRUE(names.count("model.layers.0.mlp.gate.weight"));
  EXPECT_FALSE(names.count("model.layers.0.mlp.experts.gate_proj"));
  EXPECT_EQ(models::StackedExpertsToHf(state).size(), state.size()) << "idempotent";
  const std::string dir = (fs::temp_directory_path() / ("loom_moe_state_" + std::to_string(::getpid()))).string();
  models::SaveHfModel(*model, dir);
  auto reloaded = models::LoadDecoderLM(dir);
  EXPECT_TRUE(at::equal(reloaded->named_parameters()["model.layers.2.mlp.experts.up_proj"],
                        model->named_parameters()["model.layers.2.mlp.experts.up_proj"]));
  // Drop one expert tensor: the error names it and the fix.
  std::vector<std::pair<std::string, at::Tensor>> partial;
  for (const auto& [n, t] : state) {
    if (n != "model.layers.2.mlp.experts.5.up_proj.weight") partial.emplace_back(n, t);
  }
  models::SaveHfState(model->config(), partial, dir);
  try {
    models::LoadDecoderLM(dir);
    FAIL() << "a missing expert must be an error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("model.layers.2.mlp.experts.5.up_proj.weight"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("num_experts"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

using testing::MakeSyntheticDataset;

TEST(MoeTrainTest, ASkewedRouterStillTrainsAndTheSkewIsRecorded) {
  const std::string dir = (fs::temp_directory_path() / ("loom_moe_train_" + std::to_string(::getpid()))).string();
  fs::remove_all(dir);
  // A Qwen3-MoE whose routers all prefer expert 0: channel 0 of every
  // embedding is large (it dominates the normalised residual stream) and
  // each router's row 0 reads it.
  {
    auto model = std::make_shared<models::DecoderLM>(TinyMoeConfig());
    model->InitWeights(3);
    torch::NoGradGuard no_grad;
    model->model->embed_tokens->weight.select(1, 0).fill_(1.0);
    for (int64_t l : model->sparse_layers()) {
      auto moe = std::dynamic_pointer_cast<models::SparseMoeBlock>(model->model->layers[l]->mlp);
      moe->gate->weight[0][0].fill_(2.0);
    }
    models::SaveHfModel(*model, dir + "/skewed");
  }
  config::LoomConfig cfg;
  cfg.model.path = dir + "/skewed";
  cfg.data.train = MakeSyntheticDataset(dir + "/data");
  cfg.data.seq_len = 32, cfg.data.micro_batch_size = 2;
  cfg.train.steps = 8, cfg.train.lr = 1e-2, cfg.train.warmup_steps = 1;
  cfg.run.name = "skewed", cfg.run.dir = dir + "/runs", cfg.run.db = dir + "/runs.sqlite";
  std::ostringstream log;
  const auto result = train::RunTraining(cfg, log);
  EXPECT_TRUE(std::isfinite(result.last_loss));
  EXPECT_LT(result.last_loss, result.first_loss) << log.str();

  metrics::RunStore store(cfg.run.db);
  const auto steps = store.GetSteps(result.run_id);
  ASSERT_EQ(steps.size(), 8u);
  const auto& first = steps.front().extra;
  ASSERT_TRUE(first.contains("aux_loss")) << first.dump();
  ASSERT_TRUE(first.contains("expert_tokens")) << first.dump();
  ASSERT_TRUE(first.contains("loss_terms")) << first.dump();
  EXPECT_NEAR(first["loss_terms"]["text"].get<double>() + first["loss_terms"]["router_aux"].get<double>(),
              steps.front().loss, 1e-9 * steps.front().loss);
  // Layers 0 and 2 are sparse; 2 rows x 32 tokens x top-2 = 128 assignments each.
  for (const char* layer : {"0", "2"}) {
    const auto counts = first["expert_tokens"][layer].get<std::vector<int64_t>>();
    ASSERT_EQ(counts.size(), 8u);
    int64_t total = 0, starved = 0;
    for (int64_t c : counts) total += c, starved += c < 8 ? 1 : 0;  // 8 = balanced share / 2
    EXPECT_EQ(total, 128);
    EXPECT_GE(counts[0], 60) << first.dump();  // (nearly) every token's first choice
    EXPECT_GE(starved, 4) << first.dump();
  }
  // Balanced routing gives aux = E x sum_e (k/E)(1/E) = k = 2; one expert taking
  // every token's first slot pushes it towards E = 8.
  EXPECT_GT(first["aux_loss"].get<double>(), 2.5) << first.dump();
  std::printf("skewed router: loss %.4f -> %.4f, step 0 extra %s\n", result.first_loss, result.last_loss,
              first.dump().c_str());
  // The trainer's export (per-expert HF layout) loads back.
  auto reloaded = models::LoadDecoderLM(result.model_dir);
  EXPECT_EQ(reloaded->sparse_layers(), (std::vector<int64_t>{0, 2}));
  fs::remove_all(dir);
}

TEST(MoeTrainTest, AConfigWithFamilyQwen3MoeTrains) {
  const std::string dir = (fs::temp_directory_path() / ("loom_moe_family_" + std::to_string(::getpid()))).string();
  fs::remove_all(dir);
  config::LoomConfig cfg;
  cfg.model.arch.model_type = "qwen3_moe";
  cfg.model.arch.vocab_size = 64, cfg.model.arch.hidden_size = 32, cfg.model.arch.intermediate_size = 48;
  cfg.model.arch.num_hidden_layers = 2, cfg.model.arch.num_attention_heads = 4, cfg.model.arch.num_key_value_heads = 2;
  cfg.model.arch.head_dim = 8;
  cfg.model.arch.num_experts = 4, cfg.model.arch.num_experts_per_tok = 2, cfg.model.arch.moe_intermediate_size = 16;
  cfg.model.arch.decoder_sparse_step = 2;  // layer 1 sparse, layer 0 dense
  cfg.data.train = MakeSyntheticDataset(dir + "/data");
  cfg.data.seq_len = 32, cfg.data.micro_batch_size = 2;
  cfg.train.steps = 4, cfg.train.lr = 1e-2, cfg.train.warmup_steps = 1, cfg.train.grad_accum = 2;
  cfg.run.name = "family", cfg.run.dir = dir + "/runs", cfg.run.db = dir + "/runs.sqlite";
  std::ostringstream log;
  const auto result = train::RunTraining(cfg, log);
  EXPECT_TRUE(std::isfinite(result.last_loss));
  metrics::RunStore store(cfg.run.db);
  const auto steps = store.GetSteps(result.run_id);
  ASSERT_EQ(steps.size(), 4u);
  const auto counts = steps.back().extra["expert_tokens"]["1"].get<std::vector<int64_t>>();
  int64_t total = 0;
  for (int64_t c : counts) total += c;
  EXPECT_EQ(total, 2 * 2 * 32 * 2) << "2 micro-batches x 2 rows x 32 tokens x top-2";
  auto reloaded = models::LoadDecoderLM(result.model_dir);
  EXPECT_EQ(reloaded->config().num_experts, 4);
  EXPECT_EQ(reloaded->sparse_layers(), (std::vector<int64_t>{1}));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace loom
