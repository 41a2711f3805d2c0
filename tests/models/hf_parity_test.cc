// Parity of llama / qwen2 / qwen3 / qwen3_moe with Hugging Face transformers
// (the oracle, tests/models/hf_oracle.py, runs inside the test on tiny random
// models; MoE losses include HF's weighted load-balancing aux loss, and
// Loom's stacked expert gradients are compared per expert with HF's):
// logits on a padded batch and on a packed row (1e-4 max-abs), gradients of
// every parameter (1e-4 relative), 10 AdamW steps with clipping (losses 1e-5
// relative), greedy generation (identical tokens), and export (a Loom-written
// model loads in transformers with the same logits).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <ATen/ATen.h>
#include <torch/torch.h>

#include "models/core/safetensors.h"
#include "models/llm/decoder_lm.h"
#include "models/llm/generate.h"
#include "models/llm/moe_state_adapter.h"
#include "sdk/train/optimizer.h"
#include "sdk/train/train_step.h"
#include "tests/testing/oracle.h"

namespace loom {
namespace {

namespace fs = std::filesystem;
const std::string kPython = testing::VenvPython();
const std::string kOracle = testing::OracleScript("hf_oracle.py");

const auto& MaxAbs = testing::MaxAbsDiff;
const auto& Relative = testing::RelativeDiff;

// Labels shifted within each row: labels[t] = ids[t+1] where both are valid.
at::Tensor ShiftedLabels(const at::Tensor& ids, const at::Tensor& valid) {
  auto labels = at::full_like(ids, data::kIgnoreIndex);
  labels.slice(1, 0, -1).copy_(ids.slice(1, 1));
  labels.masked_fill_(valid.logical_not(), data::kIgnoreIndex);
  labels.slice(1, 0, -1).masked_fill_(valid.slice(1, 1).logical_not(), data::kIgnoreIndex);
  return labels;
}

class HfParityTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    oracle_ = std::make_unique<testing::OracleRef>(kOracle, GetParam());
    dir_ = oracle_->dir();
  }
  at::Tensor Ref(const std::string& name) { return oracle_->Get(name); }
  std::shared_ptr<models::DecoderLM> Load(const std::string& sub = "model") {
    return models::LoadDecoderLM(dir_ + "/" + sub);
  }
  std::string dir_;
  std::unique_ptr<testing::OracleRef> oracle_;
};

TEST_P(HfParityTest, LogitsMatchOnAPaddedBatch) {
  auto model = Load();
  torch::NoGradGuard no_grad;
  auto ids = Ref("pad_input_ids");
  auto valid = Ref("pad_valid").to(at::kBool);
  auto doc_ids = at::where(valid, at::zeros_like(ids), at::full_like(ids, -1));
  auto logits = model->Logits({ids, at::arange(12).expand({2, 12}).contiguous(), doc_ids});
  auto want = Ref("pad_logits");
  const double diff = MaxAbs(logits.index({valid}), want.index({valid}));
  EXPECT_LE(diff, 1e-4) << GetParam();
  EXPECT_TRUE(logits.isfinite().all().item<bool>()) << "padding rows must stay finite";
}

TEST_P(HfParityTest, LogitsMatchOnAPackedRowOfThreeDocuments) {
  auto model = Load();
  torch::NoGradGuard no_grad;
  auto ids = Ref("packed_input_ids");
  auto lens = Ref("packed_doc_lens");
  std::vector<at::Tensor> docs, pos;
  for (int64_t d = 0; d < lens.size(0); ++d) {
    const int64_t n = lens[d].item<int64_t>();
    docs.push_back(at::full({n}, d, at::kLong));
    pos.push_back(at::arange(n, at::kLong));
  }
  auto logits = model->Logits({ids, at::cat(pos).unsqueeze(0), at::cat(docs).unsqueeze(0)});
  EXPECT_LE(MaxAbs(logits, Ref("packed_logits")), 1e-4) << GetParam();
}

TEST_P(HfParityTest, GradientsOfEveryParameterMatch) {
  auto model = Load();
  auto ids = Ref("pad_input_ids");
  auto valid = Ref("pad_valid").to(at::kBool);
  auto labels = ShiftedLabels(ids, valid);
  ASSERT_TRUE(at::equal(labels, Ref("pad_labels")));
  auto doc_ids = at::where(valid, at::zeros_like(ids), at::full_like(ids, -1));
  const double count = (labels != data::kIgnoreIndex).sum().item<double>();
  auto loss = model->LossSum({ids, at::arange(12).expand({2, 12}).contiguous(), doc_ids}, labels, /*chunk=*/7) / count;
  loss.backward();  // carries the aux loss's gradient too (MoE)
  const double total = loss.item<double>() + model->AuxLoss();
  const double want_loss = Ref("grad_loss").item<double>();
  EXPECT_LE(std::abs(total - want_loss) / want_loss, 1e-5) << total << " vs " << want_loss;
  if (model->config().IsMoe()) {
    ASSERT_TRUE(model->router_stats()->has_aux());
    const double aux = model->router_stats()->aux_loss(), want_aux = Ref("grad_aux").item<double>();
    EXPECT_LE(std::abs(aux - want_aux) / want_aux, 1e-5) << aux << " vs " << want_aux;
    EXPECT_GT(model->AuxLoss(), 1e-3 * total) << "the aux term must be large enough to test its gradient";
  }
  int checked = 0;
  for (const auto& p : model->named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    if (models::IsStackedExpertName(p.key())) {  // (E, out, in) vs HF's E tensors
      for (int64_t e = 0; e < p.value().size(0); ++e) {
        const auto hf = models::HfExpertName(p.key(), e);
        EXPECT_LE(Relative(p.value().grad()[e], Ref("grad." + hf)), 1e-4) << hf;
      }
    } else {
      EXPECT_LE(Relative(p.value().grad(), Ref("grad." + p.key())), 1e-4) << p.key();
    }
    ++checked;
  }
  EXPECT_EQ(checked, static_cast<int>(model->named_parameters().size()));
  EXPECT_GT(checked, 10);
}

TEST_P(HfParityTest, TenAdamWStepsWithClippingMatchTorch) {
  auto model = Load();
  config::TrainConfig tc;
  tc.lr = 1e-3, tc.beta1 = 0.9, tc.beta2 = 0.95, tc.eps = 1e-8, tc.weight_decay = 0.1;
  auto optimizer = train::BuildAdamW(model->parameters(), tc);
  train::StepOptions so;
  so.grad_clip = 1.0;
  so.loss_chunk_size = 5;
  auto losses = Ref("train_losses"), norms = Ref("train_grad_norms");
  for (int step = 0; step < 10; ++step) {
    data::PackedBatch b;
    b.input_ids = Ref("train_ids_" + std::to_string(step));
    b.labels = ShiftedLabels(b.input_ids, at::ones_like(b.input_ids, at::kBool));
    b.position_ids = at::arange(b.input_ids.size(1)).expand(b.input_ids.sizes()).contiguous();
    b.doc_ids = at::zeros_like(b.input_ids);
    const auto stats = train::TrainStep(*model, *optimizer, {b}, so);
    const double want = losses[step].item<double>();
    EXPECT_LE(std::abs(stats.loss - want) / want, 1e-5) << "step " << step << ": " << stats.loss << " vs " << want;
    EXPECT_LE(std::abs(stats.grad_norm - norms[step].item<double>()) / norms[step].item<double>(), 1e-4)
        << "step " << step;
  }
}

TEST_P(HfParityTest, GreedyGenerationMatchesTransformersGenerate) {
  auto model = Load("trained");
  auto prompt = Ref("gen_prompt")[0];
  auto want = Ref("gen_output")[0];
  std::vector<int64_t> p(prompt.data_ptr<int64_t>(), prompt.data_ptr<int64_t>() + prompt.numel());
  auto got = models::GreedyGenerate(*model, p, 10);
  std::vector<int64_t> w(want.data_ptr<int64_t>(), want.data_ptr<int64_t>() + want.numel());
  EXPECT_EQ(got, w);
}

TEST_P(HfParityTest, ExportedModelLoadsInTransformersWithTheSameLogits) {
  auto model = Load();
  // Change the weights with two training steps so the export is of a Loom-trained model.
  config::TrainConfig tc;
  tc.lr = 1e-2;
  auto optimizer = train::BuildAdamW(model->parameters(), tc);
  data::PackedBatch b;
  b.input_ids = Ref("train_ids_0");
  b.labels = ShiftedLabels(b.input_ids, at::ones_like(b.input_ids, at::kBool));
  b.position_ids = at::arange(16).expand({2, 16}).contiguous();
  b.doc_ids = at::zeros_like(b.input_ids);
  for (int i = 0; i < 2; ++i) train::TrainStep(*model, *optimizer, {b}, {});
  const std::string out = dir_ + "/exported-" + std::to_string(::getpid());
  models::SaveHfModel(*model, out);
  auto ids = Ref("train_ids_1");
  at::Tensor logits;
  {
    torch::NoGradGuard no_grad;
    logits = model->Logits({ids, at::Tensor(), at::Tensor()});
  }
  models::SaveSafetensors(out + "/expected.safetensors", {{"input_ids", ids}, {"logits", logits}});
  const std::string cmd = kPython + " " + kOracle + " check " + out + " " + out + "/expected.safetensors > " +
                          out + "/check.log 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << "see " << out << "/check.log";
  // And Loom reads its own export back exactly.
  auto reloaded = models::LoadDecoderLM(out);
  torch::NoGradGuard no_grad;
  EXPECT_EQ(MaxAbs(reloaded->Logits({ids, at::Tensor(), at::Tensor()}), logits), 0.0);
}

INSTANTIATE_TEST_SUITE_P(Families, HfParityTest,
                         ::testing::Values("llama", "qwen2", "qwen3", "qwen3_moe", "qwen3_moe_unnormed"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace loom
