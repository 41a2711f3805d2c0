// An omni model (Qwen2-VL vision tower, Qwen2-Audio encoder, a Qwen3 /
// Qwen3-MoE foundation) under
// a plan per component against one process: 20 AdamW steps, fp32, losses
// within 1e-5 relative and every parameter within 1e-5 (clipping active on
// every step, asserted; AdamW with a large eps, see Optim()).
//
// Each component gets its own mesh (vision FSDP over the whole world, the
// LLM HSDP 2 x 2, the audio encoder as the tower, ...) through one ApplyPlan per component, joined by
// ComponentFsdp (one optimizer, one global gradient norm). The data gives
// ranks different modality mixes: in every step of a 4-rank layout one rank
// holds no media (its encoders run on no rows), one no image while another
// has no audio, and another holds only a video; the audio encoder's frozen
// position table must stay untouched under FSDP; rows are padded unevenly and some shards are uneven (both
// asserted). A rank skipping the tower would hang its collectives; one
// mis-normalised loss or gradient would move the parameters far past 1e-5.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "models/omni/omni_model.h"
#include "parallel/expert/expert_dispatcher.h"
#include "parallel/fsdp/component_fsdp.h"
#include "parallel/plan/apply_plan.h"
#include "sdk/train/optimizer.h"
#include "sdk/train/sequence_slice.h"
#include "sdk/train/train_step.h"
#include "tests/testing/multi_rank.h"
#include "tests/testing/parity.h"

namespace loom {
namespace {

constexpr int64_t kImage = 120, kVideo = 121, kStart = 122, kEnd = 123, kAudio = 124, kLen = 20, kRows = 7, kSteps = 20;
constexpr int64_t kMels = 8, kFrames = 16;  // audio clips: 16 frames -> 4 tokens, 9 frames -> 2

nlohmann::json TinyOmniJson(bool moe) {
  nlohmann::json llm = {{"model_type", moe ? "qwen3_moe" : "qwen3"}, {"vocab_size", 131}, {"hidden_size", 50},
                        {"intermediate_size", 72}, {"num_hidden_layers", 2}, {"num_attention_heads", 4},
                        {"num_key_value_heads", 2}, {"head_dim", 12}, {"tie_word_embeddings", false},
                        {"initializer_range", 0.1}, {"rope_theta", 10000.0},
                        {"rope_scaling", {{"type", "mrope"}, {"mrope_section", {2, 2, 2}}}}};
  if (moe) {
    llm.update({{"num_experts", 4}, {"num_experts_per_tok", 2}, {"moe_intermediate_size", 20},
                {"output_router_logits", true}, {"router_aux_loss_coef", 0.01}});
  }
  return {{"model_type", "loom_omni"}, {"image_token_id", kImage}, {"video_token_id", kVideo},
          {"vision_start_token_id", kStart}, {"vision_end_token_id", kEnd}, {"audio_token_id", kAudio},
          {"components",
           {{"llm", llm},
            {"audio", {{"model_type", "qwen2_audio_encoder"}, {"num_mel_bins", kMels}, {"d_model", 16},
                       {"encoder_layers", 2}, {"encoder_attention_heads", 2}, {"encoder_ffn_dim", 24},
                       {"max_source_positions", kFrames / 2}}},
            {"vision", {{"depth", 2}, {"embed_dim", 24}, {"hidden_size", 50}, {"num_heads", 2}, {"patch_size", 2}}}}}};
}

std::shared_ptr<models::OmniModel> Build(bool moe) {
  auto model = std::make_shared<models::OmniModel>(models::OmniConfigFromJson(TinyOmniJson(moe), "tiny omni"));
  model->InitWeights(11);
  return model;
}

// Row r of step s: 3 or 7 text tokens, then (by (r + s) % 4) nothing, a video of grid
// 2x2x4 (4 tokens) or an image (1x4x4: 4 tokens, or 1x2x6: 3), then text and
// some padding.
struct Row {
  std::vector<int64_t> ids;
  at::Tensor pixels, grid;  // undefined for a row without image or video
  bool video = false;
  at::Tensor clip;          // (kMels, kFrames) features, undefined for a row without audio
  int64_t clip_frames = 0;
};

Row MakeRow(int step, int r) {
  auto g = at::make_generator<at::CPUGeneratorImpl>(1000 * step + r);
  Row row;
  const int kind = (r + step) % 4;
  const int64_t valid = kLen - r % 3;
  auto text = at::randint(0, 100, {kLen}, g);
  // Odd rows start their media at position 8: under SP 2 (slices of 10) the
  // span crosses the slice boundary.
  row.ids.assign(text.data_ptr<int64_t>(), text.data_ptr<int64_t>() + (r % 2 == 1 ? 7 : 3));
  if (kind != 1) {
    row.video = kind == 2;
    const std::vector<int64_t> grid = row.video ? std::vector<int64_t>{2, 2, 4}
                                                : (r % 2 == 0 ? std::vector<int64_t>{1, 4, 4} : std::vector<int64_t>{1, 2, 6});
    const int64_t patches = grid[0] * grid[1] * grid[2];
    row.grid = at::tensor(grid, at::kLong).unsqueeze(0);
    row.pixels = at::randn({patches, 24}, g);
    row.ids.push_back(kStart);
    row.ids.insert(row.ids.end(), patches / 4, row.video ? kVideo : kImage);
    row.ids.push_back(kEnd);
  }
  if ((r + step) % 3 == 0) {  // an audio clip after the image: 16 real frames (4 tokens) or 9 (2)
    row.clip_frames = r % 2 == 0 ? kFrames : 9;
    row.clip = at::zeros({kMels, kFrames});
    row.clip.slice(1, 0, row.clip_frames).copy_(at::randn({kMels, row.clip_frames}, g));
    row.ids.insert(row.ids.end(), row.clip_frames == kFrames ? 4 : 2, kAudio);
  }
  for (int64_t i = static_cast<int64_t>(row.ids.size()); i < valid; ++i) row.ids.push_back(text[i].item<int64_t>());
  return row;
}

// The micro-batch of rows `rows` of step s (positions left to the model).
data::PackedBatch BatchOf(int step, const std::vector<int>& rows) {
  const int64_t b = static_cast<int64_t>(rows.size());
  data::PackedBatch batch;
  batch.input_ids = at::zeros({b, kLen}, at::kLong);
  batch.doc_ids = at::full({b, kLen}, -1, at::kLong);
  std::vector<at::Tensor> image_px, image_grid, video_px, video_grid, clips;
  std::vector<int64_t> clip_frames;
  for (int64_t i = 0; i < b; ++i) {
    const Row row = MakeRow(step, rows[i]);
    const int64_t n = static_cast<int64_t>(row.ids.size());
    batch.input_ids[i].slice(0, 0, n).copy_(at::tensor(row.ids, at::kLong));
    batch.doc_ids[i].slice(0, 0, n).fill_(0);
    if (row.pixels.defined()) {
      (row.video ? video_px : image_px).push_back(row.pixels);
      (row.video ? video_grid : image_grid).push_back(row.grid);
    }
    if (row.clip.defined()) clips.push_back(row.clip), clip_frames.push_back(row.clip_frames);
  }
  testing::SetNextTokenLabels(&batch);
  if (!image_px.empty()) batch.media.pixel_values = at::cat(image_px), batch.media.image_grid_thw = at::cat(image_grid);
  if (!clips.empty()) {
    batch.media.input_features = at::stack(clips);
    batch.media.feature_lengths = at::tensor(clip_frames, at::kLong);
  }
  if (!video_px.empty()) batch.media.pixel_values_videos = at::cat(video_px), batch.media.video_grid_thw = at::cat(video_grid);
  return batch;
}

std::vector<int> RowsOf(int data_rank, int data_world) { return testing::RowsOfRank(data_rank, data_world, kRows); }

// AdamW where the final parameters check the gradients' magnitudes (see parity.h).
config::TrainConfig Optim() { return testing::GradientProportionalOptimizer(); }

const testing::Trajectory& OneProcess(bool moe) {
  static std::map<bool, testing::Trajectory> refs;
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  if (!refs.count(moe)) {
    auto model = Build(moe);
    refs[moe] = testing::TrainOneProcess(*model, Optim(), kSteps,
                                         [](int s) { return std::vector<data::PackedBatch>{BatchOf(s, RowsOf(0, 1))}; });
  }
  return refs[moe];
}

struct MeshOf {
  int64_t dp_replicate = 1, dp_shard = -1, sp = 1, ep = 1;
};

struct Layout {
  const char* name;
  int world;
  MeshOf vision, llm;  // the audio encoder gets the vision tower's mesh
  parallel::RecomputePolicy vision_recompute = parallel::RecomputePolicy::kNone;
  bool moe = false;
};
void PrintTo(const Layout& l, std::ostream* os) { *os << l.name; }

parallel::ComponentPlan ComponentOf(const models::TrainableModel& model, const std::string& name, const MeshOf& m) {
  const std::string family = name == "vision" ? "qwen2_vision" : name == "audio" ? "qwen2_audio_encoder" : model.family();
  return testing::ComponentPlanOf(model, name, family, m.dp_replicate, m.dp_shard, m.sp, m.ep);
}

class OmniLayoutTest : public ::testing::TestWithParam<Layout> {};

TEST_P(OmniLayoutTest, PlanPerComponentMatchesOneProcess) {
  const Layout l = GetParam();
  const auto optim = Optim();
  const auto& ref = OneProcess(l.moe);
  for (size_t s = 0; s < ref.norms.size(); ++s) {
    ASSERT_GT(ref.norms[s], optim.grad_clip) << "step " << s << ": the clip must be active for this test to mean anything";
  }
  std::mutex mu;
  std::vector<std::vector<double>> losses(l.world);
  std::map<std::string, at::Tensor> params;
  int ranks_without_media = 0, ranks_with_only_video = 0;
  std::atomic<int64_t> crossing{0};
  std::vector<std::atomic<int>> no_vision(kSteps), no_audio(kSteps);  // per step: bit r = rank r lacks it
  testing::RunOnRanks(l.world, [&](const comm::CommunicatorPtr& world) {
    auto model = Build(l.moe);
    parallel::Plan plan;
    plan.world = l.world;
    plan.components = {ComponentOf(*model, "vision", l.vision), ComponentOf(*model, "audio", l.vision),
                       ComponentOf(*model, "llm", l.llm)};
    plan.components[0].recompute = plan.components[1].recompute = l.vision_recompute;
    std::vector<parallel::AppliedPlan> applied;
    for (const auto& c : plan.components) applied.push_back(parallel::ApplyPlan(model, plan, c, world));
    parallel::ComponentFsdp fsdp({applied[0].fsdp.get(), applied[1].fsdp.get(), applied[2].fsdp.get()});
    bool uneven = false;
    for (auto* f : fsdp.components()) {
      for (const auto& u : f->Units()) uneven |= u.numel % u.group_size != 0;
    }
    EXPECT_TRUE(uneven) << "no unit leaves an uneven shard";
    const auto& llm = applied[2].groups;
    const int sp_rank = llm.sp->rank(), sp_size = llm.sp->size();
    auto opt = train::BuildAdamW(fsdp.ShardParameters(true), fsdp.ShardParameters(false), optim);
    train::StepOptions so;
    so.grad_clip = optim.grad_clip;
    train::UseFsdp(&so, &fsdp, world);  // every rank holds distinct tokens (data ranks x SP slices)
    so.sequence = {sp_rank, sp_size};
    std::vector<double> mine;
    int without_media = 0, only_video = 0;
    for (int s = 0; s < kSteps; ++s) {
      const auto whole = BatchOf(s, RowsOf(llm.dp->rank(), llm.dp->size()));
      if (sp_size == 2) {  // some media span crosses the slice boundary (positions 9 | 10)
        const auto media = (whole.input_ids == kImage).logical_or(whole.input_ids == kVideo);
        crossing += media.select(1, kLen / 2 - 1).logical_and(media.select(1, kLen / 2)).sum().item<int64_t>();
      }
      const auto batch = train::SliceForModel(*model, whole, sp_rank, sp_size);
      without_media += batch.media.empty();
      if (!batch.media.pixel_values.defined() && !batch.media.pixel_values_videos.defined()) no_vision[s] |= 1 << world->rank();
      if (!batch.media.input_features.defined()) no_audio[s] |= 1 << world->rank();
      only_video += !batch.media.pixel_values.defined() && batch.media.pixel_values_videos.defined();
      mine.push_back(train::TrainStep(*model, *opt, {batch}, so).loss);
    }
    auto state = fsdp.GatherFullState();
    std::lock_guard<std::mutex> lock(mu);
    losses[world->rank()] = mine;
    ranks_without_media += without_media > 0;
    ranks_with_only_video += only_video > 0;
    if (world->rank() == 0) {
      for (auto& [name, t] : state) params[name] = t;
    }
  });
  if (l.llm.sp == 2) {
    EXPECT_GT(crossing.load(), 0) << "no image or video span crosses an SP slice boundary";
  }
  if (l.world == 4 && l.llm.sp == 1) {  // four data ranks: rows k and k + 4 share a kind
    EXPECT_GT(ranks_without_media, 0) << "some rank must run a step with no media at all";
    bool both = false;  // one step where one rank has no image or video and another no audio
    for (int s = 0; s < kSteps; ++s) {
      const int v = no_vision[s], a = no_audio[s];
      for (int r = 0; r < l.world; ++r) both |= (v >> r & 1) && (a & ~(1 << r));
    }
    EXPECT_TRUE(both) << "no step has a rank without vision and another rank without audio";
    EXPECT_GT(ranks_with_only_video, 0) << "some rank must run a step with a video and no image";
  }
  testing::ExpectSameLosses(losses, ref.losses, l.name);
  testing::ExpectSameParams(params, ref.params, l.name);
}

INSTANTIATE_TEST_SUITE_P(
    Layouts, OmniLayoutTest,
    ::testing::Values(Layout{"vision_fsdp4_llm_hsdp2x2", 4, {1, 4}, {2, 2}, parallel::RecomputePolicy::kFull},
                      Layout{"odd_world3", 3, {1, 3}, {1, 3}},
                      Layout{"vision_hsdp2x2_llm_fsdp4", 4, {2, 2}, {1, 4}},
                      Layout{"vision_fsdp4_llm_sp2_fsdp2", 4, {1, 4}, {1, 2, 2}},
                      Layout{"moe_ep2_sp2_vision_fsdp4", 4, {1, 4}, {1, 2, 2, 2}, parallel::RecomputePolicy::kNone, true}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace loom
