#include "sdk/train/vq_training.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/nn/utils/clip_grad.h>

#include "models/core/safetensors.h"
#include "models/image/janus_vq.h"
#include "ops/base/error.h"
#include "sdk/data/image_codes.h"
#include "sdk/metrics/run_store.h"
#include "sdk/train/optimizer.h"

namespace loom::train {
namespace {

namespace fs = std::filesystem;

nlohmann::json ReadModelJson(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError(ErrorWithFix("model.config " + path + " cannot be read", "pass an existing config.json"));
  const auto j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded()) throw ConfigError(ErrorWithFix("model.config " + path + " is not JSON", "fix the file"));
  return j;
}

bool IsImageFile(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp" || ext == ".gif";
}

// data.train / data.eval: a folder of images, or a text file of paths.
std::vector<std::string> ImagePaths(const std::string& source, const char* key) {
  if (source.empty()) return {};
  std::vector<std::string> paths;
  if (fs::is_directory(source)) {
    for (const auto& e : fs::directory_iterator(source))
      if (e.is_regular_file() && IsImageFile(e.path())) paths.push_back(e.path().string());
    std::sort(paths.begin(), paths.end());
  } else if (fs::is_regular_file(source)) {
    std::ifstream in(source);
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) paths.push_back(line);
  } else {
    throw ConfigError(ErrorWithFix(std::string(key) + " " + source + " does not exist",
                                   "pass a folder of images or a text file with one image path per line"));
  }
  if (paths.empty())
    throw ConfigError(ErrorWithFix(std::string(key) + " " + source + " holds no images",
                                   "add .png / .jpg / .bmp / .gif files (or list their paths)"));
  return paths;
}

// (N, 3, side, side) fp32 in [-1, 1].
at::Tensor LoadImages(const std::vector<std::string>& paths, int64_t side) {
  std::vector<at::Tensor> images;
  images.reserve(paths.size());
  for (const auto& p : paths) images.push_back(data::LoadVqImage(p, side));
  return at::cat(images, 0);
}

double Psnr(double mse) { return mse > 0 ? 10.0 * std::log10(4.0 / mse) : 99.0; }

void NormaliseCodebook(models::JanusVqModel& vq) {
  at::NoGradGuard no_grad;
  auto& e = vq.codebook->weight;
  e.div_(e.norm(2, 1, true).clamp_min(1e-12));
}

// Codes unused since the last restart take the value of random latents of
// this batch (unit length): without it the codebook collapses to a handful
// of entries early in training. Returns how many were restarted.
int64_t RestartDeadCodes(models::JanusVqModel& vq, at::Tensor& usage, const at::Tensor& latents, at::Generator& generator) {
  at::NoGradGuard no_grad;
  const auto dead = (usage == 0).nonzero().squeeze(1);
  usage.zero_();
  if (dead.numel() == 0) return 0;
  const auto z = latents.detach().permute({0, 2, 3, 1}).reshape({-1, latents.size(1)});  // (B h w, E)
  const auto pick = at::randint(z.size(0), {dead.numel()}, generator, at::TensorOptions().dtype(at::kLong));
  auto rows = z.index_select(0, pick);
  vq.codebook->weight.index_copy_(0, dead, rows / rows.norm(2, 1, true).clamp_min(1e-12));
  return dead.numel();
}

// The inference path: codes, then Decode; PSNR over every image (batches of 32).
double EvalPsnr(models::JanusVqModel& vq, const at::Tensor& images) {
  at::NoGradGuard no_grad;
  double squared = 0;
  for (int64_t start = 0; start < images.size(0); start += 32) {
    const auto x = images.slice(0, start, std::min(images.size(0), start + 32));
    squared += (vq.Decode(vq.Encode(x).codes) - x).pow(2).sum().item<double>();
  }
  return Psnr(squared / static_cast<double>(images.numel()));
}

}  // namespace

bool IsVqConfig(const config::LoomConfig& cfg) {
  if (cfg.model.config.empty() || !fs::is_regular_file(cfg.model.config)) return false;
  const auto j = ReadModelJson(cfg.model.config);
  return j.is_object() && j.value("model_type", "") == "janus_vqgan";
}

VqTrainingResult RunVqTraining(const config::LoomConfig& cfg, std::ostream& log) {
  const auto vq_config = models::JanusVqConfigFromJson(ReadModelJson(cfg.model.config), cfg.model.config);
  const int64_t side = data::VqImageSide(vq_config);
  const auto train_paths = ImagePaths(cfg.data.train, "data.train");
  const auto eval_paths = ImagePaths(cfg.data.eval, "data.eval");
  const auto images = LoadImages(train_paths, side);
  const auto eval_images = eval_paths.empty() ? at::Tensor() : LoadImages(eval_paths, side);
  const int64_t batch = std::min<int64_t>(cfg.data.micro_batch_size, images.size(0));
  log << "loom train (VQ image tokenizer): " << images.size(0) << " training images, " << eval_paths.size()
      << " held out, " << side << "x" << side << " pixels -> " << vq_config.num_patches << "x" << vq_config.num_patches
      << " codes of " << vq_config.num_embeddings << ", " << batch << " images per step, " << cfg.train.steps << " steps\n";

  models::JanusVqModel vq(vq_config);
  vq.InitWeights(static_cast<uint64_t>(cfg.train.seed));
  NormaliseCodebook(vq);
  auto optimizer = BuildAdamW(vq.parameters(), cfg.train);
  metrics::RunStore store(cfg.run.db);
  VqTrainingResult result;
  result.run_id = store.CreateRun(cfg.run.name, config::ToJson(cfg).dump(), 1, cfg.run.lost_after_s);
  auto generator = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(cfg.train.seed));
  constexpr int64_t kRestartEvery = 10;  // steps between dead-code restarts (none in the last 10% of training)
  auto usage = at::zeros({vq_config.num_embeddings}, at::kLong);
  int64_t restarted = 0;
  try {
    for (int64_t step = 0; step < cfg.train.steps; ++step) {
      const auto start = std::chrono::steady_clock::now();
      const double lr = LearningRate(cfg.train, step);
      SetLearningRate(*optimizer, lr);
      const auto x = images.index_select(0, at::randperm(images.size(0), generator).slice(0, 0, batch));
      optimizer->zero_grad();
      const auto enc = vq.Encode(x);
      const auto reconstruction = (vq.DecodeQuantized(enc.quantized) - x).pow(2).mean();
      const auto loss = reconstruction + enc.loss;
      loss.backward();
      const double max_norm = cfg.train.grad_clip > 0 ? cfg.train.grad_clip : std::numeric_limits<double>::infinity();
      const double grad_norm = torch::nn::utils::clip_grad_norm_(vq.parameters(), max_norm);
      optimizer->step();
      NormaliseCodebook(vq);
      usage.index_add_(0, enc.codes.reshape({-1}), at::ones({enc.codes.numel()}, at::kLong));
      if ((step + 1) % kRestartEvery == 0 && step < cfg.train.steps * 9 / 10)
        restarted += RestartDeadCodes(vq, usage, enc.latents, generator);
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      const bool last = step + 1 == cfg.train.steps;
      const bool eval = eval_images.defined() && (last || (cfg.train.eval_every > 0 && (step + 1) % cfg.train.eval_every == 0));
      if (!last && !eval && cfg.train.log_every > 0 && step % cfg.train.log_every != 0) continue;
      metrics::StepMetrics m;
      m.step = step;
      m.loss = loss.item<double>();
      m.lr = lr;
      m.grad_norm = grad_norm;
      m.step_time_s = seconds;
      m.tokens_per_s = static_cast<double>(enc.codes.numel()) / seconds;  // codes per second
      const double mse = reconstruction.item<double>();
      const auto used = std::get<0>(at::_unique(enc.codes)).numel();
      m.extra = {{"reconstruction_mse", mse}, {"vq_loss", enc.loss.item<double>()}, {"psnr", Psnr(mse)}, {"codes_used", used},
                 {"codes_restarted", restarted}};
      if (eval) m.extra["eval_psnr"] = result.final_eval_psnr = EvalPsnr(vq, eval_images);
      store.LogStep(result.run_id, m);
      log << "step " << step << ": loss " << m.loss << ", reconstruction PSNR " << Psnr(mse) << " dB, " << used << " codes used"
          << (eval ? ", held-out PSNR " + std::to_string(result.final_eval_psnr) + " dB" : "") << "\n";
    }
    // The export transformers' JanusVQVAE.from_pretrained loads.
    const fs::path final_dir = fs::path(cfg.run.dir) / cfg.run.name / "final";
    fs::create_directories(final_dir);
    std::vector<std::pair<std::string, at::Tensor>> state;
    for (const auto& p : vq.named_parameters()) state.emplace_back(p.key(), p.value().detach());
    models::SaveSafetensorsDir(final_dir.string(), state);
    auto config_json = models::JanusVqConfigToJson(vq_config);
    config_json["architectures"] = {"JanusVQVAE"};
    std::ofstream(final_dir / "config.json") << config_json.dump(2) << "\n";
    store.FinishRun(result.run_id, metrics::RunStatus::kCompleted);
    log << "exported " << final_dir.string() << "\n";
  } catch (const std::exception& e) {
    store.FinishRun(result.run_id, metrics::RunStatus::kFailed, e.what());
    throw;
  }
  return result;
}

}  // namespace loom::train
