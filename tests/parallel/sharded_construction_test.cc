// Sharded construction and loading (parallel/fsdp/fsdp.h, models/llm/weight_sources.h):
// each rank builds the model on the meta device and fills only its shards,
// from HF's random init or from a safetensors checkpoint.
//   - the shards equal the same slices of the whole model, bit for bit
//     (random init with the same seed; a checkpoint in fp32 or bf16, split
//     over several files with an index), dense and MoE with EP;
//   - the model is never materialised: its parameters stay on meta, and a
//     rank's peak CPU allocation while sharding is its shards plus (random
//     init only) one chunk of draws, and a rank draws only the chunks its
//     slices overlap;
//   - a rank reads only its slices: the checkpoint bytes copied per rank sum
//     to the checkpoint (once per replica) and stay within its shard;
//   - a checkpoint that does not fit the model fails before any collective,
//     naming the tensor and the fix.
#include <gtest/gtest.h>

#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <mutex>

#include <unistd.h>

#include <ATen/ATen.h>
#include <c10/core/CPUAllocator.h>

#include "models/llm/decoder_lm.h"
#include "models/core/safetensors.h"
#include "models/llm/weight_sources.h"
#include "ops/base/error.h"
#include "parallel/fsdp/fsdp.h"
#include "parallel/mesh/process_groups.h"
#include "tests/bench/tracking_allocator.h"
#include "tests/testing/multi_rank.h"

namespace loom {
namespace {

namespace fs = std::filesystem;

models::LlmConfig DenseConfig() {  // qwen2 flags: q/k/v biases (init 0), untied head
  models::LlmConfig c;
  c.model_type = "qwen2";
  c.vocab_size = 200, c.hidden_size = 32, c.intermediate_size = 56, c.num_hidden_layers = 3;
  c.num_attention_heads = 4, c.num_key_value_heads = 2, c.head_dim = 8, c.attention_bias = true;
  c.tie_word_embeddings = false;
  return c;
}

models::LlmConfig MoeConfig() {
  models::LlmConfig c;
  c.model_type = "qwen3_moe";
  c.vocab_size = 64, c.hidden_size = 32, c.intermediate_size = 48, c.num_hidden_layers = 2;
  c.num_attention_heads = 4, c.num_key_value_heads = 2, c.head_dim = 8, c.qk_norm = true;
  c.tie_word_embeddings = true;
  c.num_experts = 8, c.num_experts_per_tok = 2, c.moe_intermediate_size = 16, c.norm_topk_prob = true;
  return c;
}

struct Layout {
  const char* name;
  int world, dp_replicate, dp_shard, ep;
  bool moe;
};

const Layout kLayouts[] = {
    {"fsdp4_dense", 4, 1, 4, 1, false},
    {"hsdp2x2_dense", 4, 2, 2, 1, false},
    {"fsdp4_ep2_moe", 4, 1, 4, 2, true},
    {"fsdp2_ep2_moe", 2, 1, 2, 2, true},
};

constexpr uint64_t kSeed = 23;
// Allowance for what a meta model still allocates (RoPE frequencies, router
// statistics): a few hundred bytes, independent of the parameter count.
constexpr int64_t kSmall = 4096;

std::map<std::string, at::Tensor> NamedParams(const models::DecoderLM& model) {
  std::map<std::string, at::Tensor> out;
  for (const auto& p : model.named_parameters()) out[p.key()] = p.value().detach().clone();
  return out;
}

// What one rank measured while FSDP built its shards.
struct RankReport {
  int64_t peak = 0, shard_bytes = 0, bytes_read = 0, elements_drawn = 0;
  bool meta_before = false;
};

// Builds the layout's model on the meta device on every rank and shards it
// from the source `make_source` returns; one rank at a time measures (the
// tracker counts the process). Returns the gathered full state per rank.
std::vector<RankReport> ShardOnRanks(
    const Layout& layout, const models::LlmConfig& config,
    const std::function<std::unique_ptr<models::ParameterSource>(const models::DecoderLM&)>& make_source,
    const std::map<std::string, at::Tensor>& expected) {
  bench::ScopedTracking tracker;
  const auto state =
      parallel::ParallelState::Create(layout.world, {layout.dp_replicate, layout.dp_shard, 1, layout.ep});
  std::vector<RankReport> reports(layout.world);
  std::mutex mu;
  std::condition_variable cv;
  int measured = 0;
  testing::RunOnRanks(layout.world, [&](const comm::CommunicatorPtr& world) {
    auto groups = parallel::BuildProcessGroups(state, world);
    world->Barrier()->Wait();
    std::unique_ptr<parallel::FsdpModel> fsdp;
    {
      // One rank measures at a time, and none goes on until all have.
      std::unique_lock<std::mutex> lock(mu);
      RankReport& r = reports[world->rank()];
      tracker->ResetPeak();
      const int64_t before = tracker->live();
      auto model = std::make_shared<models::DecoderLM>(config, at::kMeta);
      auto source = make_source(*model);
      r.meta_before = true;
      for (const auto& p : model->parameters()) r.meta_before = r.meta_before && p.is_meta();
      fsdp = std::make_unique<parallel::FsdpModel>(model, groups, parallel::FsdpOptions{}, source.get());
      r.peak = tracker->peak() - before;
      r.shard_bytes = fsdp->ShardBytes();
      if (auto* ckpt = dynamic_cast<models::HfWeightsSource*>(source.get())) r.bytes_read = ckpt->bytes_read();
      if (auto* init = dynamic_cast<models::HfInitSource*>(source.get())) r.elements_drawn = init->elements_drawn();
      ++measured;
      cv.notify_all();
      cv.wait(lock, [&] { return measured == layout.world; });
    }
    // The shards gathered back equal the whole model, bit for bit.
    const auto full = fsdp->GatherFullState();
    EXPECT_EQ(full.size(), expected.size());
    for (const auto& [name, t] : full) {
      ASSERT_TRUE(expected.count(name)) << name;
      EXPECT_TRUE(at::equal(t, expected.at(name))) << layout.name << ": " << name << " differs";
    }
    // For export: only world rank 0 keeps the state, the same bits.
    const auto rank0 = fsdp->GatherFullState(/*rank0_only=*/true);
    if (world->rank() != 0) {
      EXPECT_TRUE(rank0.empty()) << "rank " << world->rank() << " kept the full state";
      return;
    }
    ASSERT_EQ(rank0.size(), full.size());
    for (size_t i = 0; i < full.size(); ++i) {
      EXPECT_EQ(rank0[i].first, full[i].first);
      EXPECT_TRUE(at::equal(rank0[i].second, full[i].second)) << rank0[i].first;
    }
  });
  return reports;
}

class ShardedConstructionTest : public ::testing::TestWithParam<Layout> {};

TEST_P(ShardedConstructionTest, RandomInitShardsEqualTheWholeModelsInitAndNothingIsMaterialised) {
  const Layout& layout = GetParam();
  const auto config = layout.moe ? MoeConfig() : DenseConfig();
  // Chunks far smaller than the parameters, so slices start and end inside
  // chunks (the default is 2^20 elements).
  constexpr int64_t kChunk = 64;
  models::DecoderLM whole(config);
  models::HfInitSource whole_init(config.initializer_range, kSeed, kChunk);
  models::FillParameters(whole, whole_init);
  const auto reports = ShardOnRanks(
      layout, config,
      [&](const models::DecoderLM&) {
        return std::make_unique<models::HfInitSource>(config.initializer_range, kSeed, kChunk);
      },
      NamedParams(whole));
  const auto parameters = static_cast<int64_t>(whole.parameters().size());
  for (size_t r = 0; r < reports.size(); ++r) {
    EXPECT_TRUE(reports[r].meta_before) << "rank " << r << " materialised a parameter before sharding";
    // Its shards, plus one chunk of draws.
    EXPECT_LE(reports[r].peak, reports[r].shard_bytes + kChunk * 4 + kSmall) << "rank " << r;
    // It drew its own elements, rounded out to chunks: at most two partial
    // chunks per parameter beyond its shard, far from the whole model.
    EXPECT_LE(reports[r].elements_drawn, reports[r].shard_bytes / 4 + 2 * kChunk * parameters) << "rank " << r;
    EXPECT_LT(reports[r].elements_drawn, whole_init.elements_drawn()) << "rank " << r;
    std::printf("[ %s init ] rank %zu: drew %lld of %lld random elements; peak %lld bytes (shards %lld, model %lld)\n",
                layout.name, r, static_cast<long long>(reports[r].elements_drawn),
                static_cast<long long>(whole_init.elements_drawn()), static_cast<long long>(reports[r].peak),
                static_cast<long long>(reports[r].shard_bytes), static_cast<long long>(config.NumParameters() * 4));
  }
}

// The default chunking (2^20 elements) too: one Fill of a whole parameter
// equals Fills of its pieces in any order.
TEST(HfInitSourceTest, SlicesInAnyOrderEqualTheWholeParameter) {
  const std::vector<int64_t> shape{3, 1000, 700};  // 2.1M elements: three chunks
  models::HfInitSource whole_init(0.02, 5), pieces_init(0.02, 5);
  auto whole = at::empty({2100000});
  whole_init.Fill("model.embed_tokens.weight", shape, 0, whole);
  auto pieces = at::empty({2100000});
  for (int64_t begin : {1500000, 7, 0, 1048575}) {
    const int64_t end = begin == 1500000 ? 2100000 : begin == 7 ? 1048575 : begin == 0 ? 7 : 1500000;
    pieces_init.Fill("model.embed_tokens.weight", shape, begin, pieces.slice(0, begin, end));
  }
  EXPECT_TRUE(at::equal(whole, pieces));
  EXPECT_NEAR(whole.std().item<double>(), 0.02, 1e-4);
  EXPECT_NEAR(whole.mean().item<double>(), 0.0, 1e-4);
  // Another name or seed draws other values.
  auto other = at::empty({2100000});
  models::HfInitSource(0.02, 5).Fill("lm_head.weight", shape, 0, other);
  EXPECT_FALSE(at::equal(whole, other));
  models::HfInitSource(0.02, 6).Fill("model.embed_tokens.weight", shape, 0, other);
  EXPECT_FALSE(at::equal(whole, other));
}

TEST_P(ShardedConstructionTest, CheckpointShardsEqualAWholeLoadAndEachRankReadsOnlyItsSlices) {
  const Layout& layout = GetParam();
  const auto config = layout.moe ? MoeConfig() : DenseConfig();
  for (const auto dtype : {at::kFloat, at::kBFloat16}) {
    SCOPED_TRACE(c10::toString(dtype));
    models::DecoderLM source_model(config);
    source_model.InitWeights(kSeed);
    // HF naming (per-expert tensors), split over several files with an index.
    const fs::path dir = fs::temp_directory_path() / ("loom_sharded_load_" + std::string(layout.name) + "_" +
                                                      c10::toString(dtype) + "_" + std::to_string(getpid()));
    auto state = source_model.StateForExport();
    int64_t checkpoint_bytes = 0;
    for (auto& [name, t] : state) {
      t = t.to(dtype);
      checkpoint_bytes += t.numel() * t.element_size();
    }
    models::SaveSafetensorsDir(dir.string(), state, /*max_shard_bytes=*/checkpoint_bytes / 3);
    ASSERT_TRUE(fs::exists(dir / "model.safetensors.index.json"));
    models::DecoderLM whole(config);
    whole.LoadFrom(dir.string());
    const auto reports = ShardOnRanks(
        layout, config,
        [&](const models::DecoderLM& meta) {
          return std::make_unique<models::HfWeightsSource>(dir.string(), models::ShapesOf(meta),
                                                              config.tie_word_embeddings);
        },
        NamedParams(whole));
    const int64_t elem = c10::elementSize(dtype);
    int64_t read = 0;
    for (size_t r = 0; r < reports.size(); ++r) {
      EXPECT_TRUE(reports[r].meta_before) << "rank " << r;
      // Shards only: the checkpoint is read through its memory map, slice by slice.
      EXPECT_LE(reports[r].peak, reports[r].shard_bytes + kSmall) << "rank " << r;
      EXPECT_LE(reports[r].bytes_read, reports[r].shard_bytes / 4 * elem) << "rank " << r << " read beyond its shard";
      read += reports[r].bytes_read;
      std::printf("[ %s load %s ] rank %zu: read %lld of %lld checkpoint bytes, peak %lld bytes (shards %lld)\n",
                  layout.name, c10::toString(dtype), r, static_cast<long long>(reports[r].bytes_read),
                  static_cast<long long>(checkpoint_bytes), static_cast<long long>(reports[r].peak),
                  static_cast<long long>(reports[r].shard_bytes));
    }
    // Every byte once per replica of the model (HSDP: dp_replicate copies).
    EXPECT_EQ(read, checkpoint_bytes * layout.dp_replicate);
    fs::remove_all(dir);
  }
}

INSTANTIATE_TEST_SUITE_P(Layouts, ShardedConstructionTest, ::testing::ValuesIn(kLayouts),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(ShardedConstructionErrors, ACheckpointThatDoesNotFitTheModelFailsFromItsHeadersNamingTheTensor) {
  const fs::path dir = fs::temp_directory_path() / ("loom_sharded_bad_" + std::to_string(getpid()));
  models::DecoderLM saved(MoeConfig());
  saved.InitWeights(1);
  // Saves the model's HF state without `drop`, then expects loading it into
  // `config` to fail with `needle` and a fix naming config.json.
  auto expect_error = [&](const models::LlmConfig& config, const std::string& drop, const std::string& needle) {
    SCOPED_TRACE(needle);
    auto state = saved.StateForExport();
    std::erase_if(state, [&](const auto& nt) { return nt.first == drop; });
    fs::remove_all(dir);
    models::SaveSafetensorsDir(dir.string(), state);
    models::DecoderLM meta(config, at::kMeta);
    try {
      models::HfWeightsSource source(dir.string(), models::ShapesOf(meta), config.tie_word_embeddings);
      ADD_FAILURE() << "no error";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("config.json"), std::string::npos) << e.what();
    }
  };
  auto fewer_experts = MoeConfig();
  fewer_experts.num_experts = 4;
  expect_error(fewer_experts, "", "'model.layers.0.mlp.gate.weight' has shape [8, 32] but the model expects [4, 32]");
  auto wider = MoeConfig();
  wider.moe_intermediate_size = 24;
  expect_error(wider, "", "'model.layers.0.mlp.experts.0.gate_proj.weight' has shape [16, 32] but the model expects [24, 32]");
  expect_error(MoeConfig(), "model.layers.1.mlp.experts.5.up_proj.weight",
               "'model.layers.1.mlp.experts.5.up_proj.weight' is missing");
  auto no_qk_norm = MoeConfig();
  no_qk_norm.qk_norm = false;
  expect_error(no_qk_norm, "", "'model.layers.0.self_attn.k_norm.weight' (and 3 more) is not part of the model");
  fs::remove_all(dir);
}

TEST(ShardedConstructionErrors, AMetaModelWithoutASourceIsRefusedNamingTheFix) {
  testing::RunOnRanks(2, [](const comm::CommunicatorPtr& world) {
    auto groups = parallel::BuildProcessGroups(parallel::ParallelState::Create(2, {1, 2, 1, 1}), world);
    auto meta = std::make_shared<models::DecoderLM>(DenseConfig(), at::kMeta);
    try {
      parallel::FsdpModel fsdp(meta, groups);
      ADD_FAILURE() << "a meta model was sharded without a source";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("ParameterSource"), std::string::npos) << e.what();
    }
  });
}

}  // namespace
}  // namespace loom
