// The training step and loop: schedules, gradient accumulation equals one
// big batch, determinism, bf16 autocast, the run store record, bad configs.
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>

#include <ATen/ATen.h>
#include <torch/torch.h>

#include "models/llm/decoder_lm.h"
#include "ops/base/error.h"
#include "sdk/config/load_config.h"
#include "sdk/data/token_dataset.h"
#include "sdk/metrics/run_store.h"
#include "sdk/train/optimizer.h"
#include "sdk/train/train_step.h"
#include "sdk/train/trainer.h"
#include "tests/testing/synthetic_data.h"

namespace loom::train {
namespace {

namespace fs = std::filesystem;

models::LlmConfig TinyConfig() {
  models::LlmConfig c;
  c.model_type = "qwen3";
  c.vocab_size = 64, c.hidden_size = 32, c.intermediate_size = 48, c.num_hidden_layers = 2;
  c.num_attention_heads = 4, c.num_key_value_heads = 2, c.head_dim = 8, c.qk_norm = true;
  return c;
}

data::PackedBatch RandomBatch(int64_t rows, int64_t len, uint64_t seed) {
  auto g = at::make_generator<at::CPUGeneratorImpl>(seed);
  data::PackedBatch b;
  b.input_ids = at::randint(64, {rows, len}, g);
  b.labels = at::full_like(b.input_ids, data::kIgnoreIndex);
  b.labels.slice(1, 0, -1).copy_(b.input_ids.slice(1, 1));
  b.position_ids = at::arange(len).expand({rows, len}).contiguous();
  b.doc_ids = at::zeros_like(b.input_ids);
  return b;
}

data::PackedBatch Rows(const data::PackedBatch& b, int64_t start, int64_t end) {
  return {b.input_ids.slice(0, start, end), b.labels.slice(0, start, end), b.position_ids.slice(0, start, end),
          b.doc_ids.slice(0, start, end)};
}

TEST(ScheduleTest, WarmupThenCosineLinearConstant) {
  config::TrainConfig c;
  c.lr = 1.0, c.min_lr_ratio = 0.1, c.warmup_steps = 4, c.steps = 14;
  c.schedule = "cosine";
  EXPECT_DOUBLE_EQ(LearningRate(c, 0), 0.25);
  EXPECT_DOUBLE_EQ(LearningRate(c, 3), 1.0);
  EXPECT_DOUBLE_EQ(LearningRate(c, 4), 1.0);
  EXPECT_NEAR(LearningRate(c, 9), 0.55, 1e-12);  // half-way: (1 + 0.1) / 2
  EXPECT_NEAR(LearningRate(c, 14), 0.1, 1e-12);
  c.schedule = "linear";
  EXPECT_NEAR(LearningRate(c, 9), 0.55, 1e-12);
  c.schedule = "constant";
  EXPECT_DOUBLE_EQ(LearningRate(c, 9), 1.0);
  c.schedule = "bogus";
  EXPECT_THROW(LearningRate(c, 9), ConfigError);
}

TEST(TrainStepTest, GradientAccumulationEqualsOneBigBatch) {
  torch::manual_seed(0);
  auto one = std::make_shared<models::DecoderLM>(TinyConfig());
  one->InitWeights(7);
  auto two = std::make_shared<models::DecoderLM>(TinyConfig());
  two->InitWeights(7);
  config::TrainConfig tc;
  auto opt1 = BuildAdamW(one->parameters(), tc), opt2 = BuildAdamW(two->parameters(), tc);
  for (int step = 0; step < 3; ++step) {
    auto big = RandomBatch(4, 12, 100 + step);
    big.labels[1][5] = data::kIgnoreIndex;  // uneven label counts across the halves
    big.labels[1][6] = data::kIgnoreIndex;
    const auto s1 = TrainStep(*one, *opt1, {big}, {});
    const auto s2 = TrainStep(*two, *opt2, {Rows(big, 0, 2), Rows(big, 2, 4)}, {});
    EXPECT_NEAR(s1.loss, s2.loss, 1e-6 * s1.loss) << "step " << step;
    EXPECT_NEAR(s1.grad_norm, s2.grad_norm, 1e-5 * s1.grad_norm);
    EXPECT_EQ(s1.label_tokens, s2.label_tokens);
  }
  auto p1 = one->parameters(), p2 = two->parameters();
  for (size_t i = 0; i < p1.size(); ++i) EXPECT_TRUE(at::allclose(p1[i], p2[i], 1e-5, 1e-6)) << i;
}

TEST(TrainStepTest, Bf16AutocastTrainsAndStaysCloseToFp32) {
  auto a = std::make_shared<models::DecoderLM>(TinyConfig());
  a->InitWeights(3);
  auto b = std::make_shared<models::DecoderLM>(TinyConfig());
  b->InitWeights(3);
  config::TrainConfig tc;
  tc.lr = 1e-2;
  auto oa = BuildAdamW(a->parameters(), tc), ob = BuildAdamW(b->parameters(), tc);
  StepOptions bf16;
  bf16.bf16 = true;
  auto batch = RandomBatch(2, 16, 5);
  double first = 0, last = 0;
  for (int step = 0; step < 8; ++step) {
    const auto s32 = TrainStep(*a, *oa, {batch}, {});
    const auto s16 = TrainStep(*b, *ob, {batch}, bf16);
    EXPECT_NEAR(s16.loss, s32.loss, 0.05 * s32.loss) << "step " << step;  // bf16: loose, stated
    if (step == 0) first = s16.loss;
    last = s16.loss;
  }
  EXPECT_LT(last, first - 0.5) << "bf16 training must still learn a repeated batch";
  EXPECT_EQ(b->parameters()[0].scalar_type(), at::kFloat) << "master weights stay fp32";
}

using testing::MakeSyntheticDataset;

config::LoomConfig TinyRunConfig(const std::string& dir, const std::string& name) {
  config::LoomConfig cfg;
  cfg.model.arch.model_type = "qwen3";
  cfg.model.arch.vocab_size = 64, cfg.model.arch.hidden_size = 32, cfg.model.arch.intermediate_size = 48;
  cfg.model.arch.num_hidden_layers = 2, cfg.model.arch.num_attention_heads = 4, cfg.model.arch.num_key_value_heads = 2;
  cfg.model.arch.head_dim = 8;
  cfg.data.train = MakeSyntheticDataset(dir + "/data");
  cfg.data.eval = cfg.data.train;
  cfg.data.seq_len = 32, cfg.data.micro_batch_size = 2;
  cfg.train.steps = 30, cfg.train.lr = 1e-2, cfg.train.warmup_steps = 3, cfg.train.eval_every = 10;
  cfg.train.grad_accum = 2;
  cfg.run.name = name, cfg.run.dir = dir + "/runs", cfg.run.db = dir + "/runs.sqlite";
  return cfg;
}

TEST(TrainerTest, DeterministicLearnsAndRecordsTheRun) {
  const std::string dir = (fs::temp_directory_path() / ("loom-trainer-" + std::to_string(::getpid()))).string();
  fs::remove_all(dir);
  std::ostringstream log;
  const auto r1 = RunTraining(TinyRunConfig(dir, "first"), log);
  const auto r2 = RunTraining(TinyRunConfig(dir, "second"), log);
  EXPECT_LT(r1.last_loss, r1.first_loss - 1.0) << log.str();
  EXPECT_GE(r1.last_eval_loss, 0);
  metrics::RunStore store(dir + "/runs.sqlite");
  const auto s1 = store.GetSteps(store.GetRun("first").id);
  const auto s2 = store.GetSteps(store.GetRun("second").id);
  ASSERT_EQ(s1.size(), 30u);
  ASSERT_EQ(s2.size(), 30u);
  for (size_t i = 0; i < s1.size(); ++i) EXPECT_EQ(s1[i].loss, s2[i].loss) << "step " << i << " not deterministic";
  EXPECT_EQ(store.GetRun("first").status, metrics::RunStatus::kCompleted);
  EXPECT_TRUE(s1[9].extra.contains("eval_loss"));
  EXPECT_GT(s1[0].tokens_per_s, 0);
  EXPECT_GT(s1[0].peak_mem_bytes, 0);
  EXPECT_TRUE(fs::exists(r1.model_dir + "/model.safetensors"));
  // The saved model reloads with identical weights.
  auto reloaded = models::LoadDecoderLM(r1.model_dir);
  EXPECT_EQ(reloaded->config().num_hidden_layers, 2);
}

TEST(TrainerTest, BadConfigsFailBeforeTrainingWithTheFix) {
  const std::string dir = (fs::temp_directory_path() / ("loom-trainer-bad-" + std::to_string(::getpid()))).string();
  fs::remove_all(dir);
  std::ostringstream log;
  auto cfg = TinyRunConfig(dir, "bad");
  cfg.model.arch.vocab_size = 32;  // smaller than the dataset's 64
  try {
    RunTraining(cfg, log);
    ADD_FAILURE();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("model.vocab_size"), std::string::npos) << e.what();
  }
  cfg = TinyRunConfig(dir, "bad2");
  cfg.data.train = dir + "/missing";
  EXPECT_THROW(RunTraining(cfg, log), ConfigError);
}

}  // namespace
}  // namespace loom::train
