// Audio preprocessing on real speech (Debian's asterisk-core-sounds-en-wav:
// PCM16 mono 8 kHz prompts, .cache/assets/speech): decode (libsndfile),
// resample to 16 kHz (libsoxr) against python-soxr and against a pure tone,
// and Whisper's log-mel features against transformers' WhisperFeatureExtractor
// given the same 16 kHz waveform (tests/models/audio_features_oracle.py),
// for 80 and 128 mel bins. Bound 1e-5 max-abs on features in [-1, 2.5]:
// a wrong filter edge, window or floor moves them by > 1e-3.
#include "sdk/data/whisper_features.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <ATen/ATen.h>

#include "models/core/safetensors.h"
#include "ops/base/error.h"
#include "sdk/data/audio_decode.h"
#include "tests/testing/oracle.h"

namespace loom::data {
namespace {

namespace fs = std::filesystem;

const std::string kSpeech = std::string(LOOM_SOURCE_DIR) + "/.cache/assets/speech/en_US_f_Allison";

// `count` prompts in name order (some short, some long), every `stride`-th.
std::vector<std::string> Prompts(int count, int stride) {
  std::vector<std::string> all;
  for (const auto& e : fs::directory_iterator(kSpeech)) {
    if (e.path().extension() == ".wav") all.push_back(e.path().string());
  }
  std::sort(all.begin(), all.end());
  std::vector<std::string> out;
  for (size_t i = 0; i < all.size() && static_cast<int>(out.size()) < count; i += stride) out.push_back(all[i]);
  return out;
}

fs::path Scratch(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("loom_audio_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

void RunOracle(const std::string& args) {
  const std::string cmd = testing::VenvPython() + " " + testing::OracleScript("audio_features_oracle.py") + " " + args;
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd << " (run `make deps`)";
}

TEST(AudioDecode, RealPromptsAreMono8kHzSpeech) {
  const auto files = Prompts(40, 9);
  ASSERT_EQ(files.size(), 40u) << "run `bash scripts/assets.sh`";
  for (const auto& f : files) {
    const auto w = DecodeAudioFile(f);
    EXPECT_EQ(w.sample_rate, 8000) << f;
    EXPECT_EQ(w.channels, 1) << f;
    EXPECT_GT(w.seconds(), 0.3) << f;
    EXPECT_LE(w.samples.abs().max().item<float>(), 1.0f) << f;
    EXPECT_GT(w.samples.abs().max().item<float>(), 0.05f) << f << " is silent?";
  }
}

TEST(AudioDecode, ResamplerMatchesPythonSoxrAndAPureTone) {
  // A 440 Hz tone at 8 kHz -> 16 kHz is the same tone (away from the edges).
  const auto t8 = at::arange(8000, at::kDouble) / 8000.0;
  const auto tone8 = at::sin(2 * M_PI * 440.0 * t8).to(at::kFloat) * 0.5;
  const auto tone16 = Resample(tone8, 8000, 16000);
  ASSERT_EQ(tone16.numel(), 16000);
  const auto t16 = at::arange(16000, at::kDouble) / 16000.0;
  const auto want = (at::sin(2 * M_PI * 440.0 * t16) * 0.5).to(at::kFloat);
  const double tone_err = (tone16 - want).slice(0, 800, 15200).abs().max().item<double>();
  EXPECT_LE(tone_err, 1e-4) << "the resampled tone";
  // Real speech at 8 and 22.05 kHz against python-soxr (the same library, HQ).
  const auto dir = Scratch("resample");
  std::vector<std::pair<std::string, at::Tensor>> in;
  const auto files = Prompts(6, 37);
  const std::vector<std::pair<int64_t, int64_t>> rates = {{8000, 16000}, {22050, 16000}, {44100, 16000}};
  std::vector<at::Tensor> mine;
  for (size_t i = 0; i < files.size(); ++i) {
    const auto w = DecodeAudioFile(files[i]);
    const auto [from, to] = rates[i % rates.size()];
    in.emplace_back("wave." + std::to_string(i), w.samples);
    in.emplace_back("rates." + std::to_string(i), at::tensor(std::vector<int64_t>{from, to}, at::kLong));
    mine.push_back(Resample(w.samples, from, to));
  }
  models::SaveSafetensors((dir / "in.safetensors").string(), in);
  RunOracle("resample " + (dir / "in.safetensors").string() + " " + (dir / "out.safetensors").string());
  const auto ref = models::SafetensorsFiles::Open((dir / "out.safetensors").string());
  double worst = 0;
  for (size_t i = 0; i < files.size(); ++i) {
    const auto want_i = ref.Get("wave." + std::to_string(i));
    ASSERT_EQ(mine[i].numel(), want_i.numel()) << files[i];
    worst = std::max(worst, testing::MaxAbsDiff(mine[i], want_i));
  }
  std::printf("resample: tone %.2g, python-soxr worst max-abs %.3g over %zu clips\n", tone_err, worst, files.size());
  EXPECT_LE(worst, 1e-5);
  fs::remove_all(dir);
}

TEST(WhisperFeatures, EqualTransformersOnRealSpeech) {
  const auto dir = Scratch("features");
  const auto files = Prompts(24, 15);
  std::vector<std::pair<std::string, at::Tensor>> waves;
  std::vector<at::Tensor> wave16;
  for (size_t i = 0; i < files.size(); ++i) {
    const auto w = DecodeAudioFile(files[i]);
    wave16.push_back(Resample(w.samples, w.sample_rate, 16000));
    waves.emplace_back("wave." + std::to_string(i), wave16.back());
  }
  // One clip longer than the 30 s window: cut, as the extractor cuts.
  waves.emplace_back("wave." + std::to_string(files.size()), at::cat(std::vector<at::Tensor>(8, at::cat(wave16))));
  wave16.push_back(waves.back().second);
  models::SaveSafetensors((dir / "waves.safetensors").string(), waves);
  for (int64_t n_mels : {80, 128}) {
    const auto out = dir / ("features" + std::to_string(n_mels) + ".safetensors");
    RunOracle("features " + (dir / "waves.safetensors").string() + " " + out.string() + " " + std::to_string(n_mels));
    const auto ref = models::SafetensorsFiles::Open(out.string());
    WhisperFeatureOptions o;
    o.n_mels = n_mels;
    EXPECT_LE(testing::MaxAbsDiff(WhisperMelFilters(o), ref.Get("mel_filters")), 1e-12) << "the filter bank";
    double worst = 0;
    for (size_t i = 0; i < wave16.size(); ++i) {
      const auto got = WhisperLogMel(wave16[i], o);
      const auto want = ref.Get("input_features." + std::to_string(i));
      ASSERT_EQ(got.input_features.sizes(), want.sizes());
      worst = std::max(worst, testing::MaxAbsDiff(got.input_features, want));
      EXPECT_EQ(got.frames, ref.Get("frames." + std::to_string(i)).item<int64_t>()) << files[std::min(i, files.size() - 1)];
    }
    std::printf("whisper log-mel (%lld mels): %zu clips, worst max-abs %.3g\n", static_cast<long long>(n_mels),
                wave16.size(), worst);
    EXPECT_LE(worst, 1e-5) << n_mels << " mels";
  }
  fs::remove_all(dir);
}

TEST(AudioDecode, BadFilesAreNamed) {
  const auto dir = Scratch("bad");
  const std::string wav = Prompts(1, 1).front();
  std::ifstream in(wav, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto garbage = (dir / "garbage.wav").string();
  std::ofstream(garbage, std::ios::binary) << "RIFF????WAVEnot really";
  const auto header_only = (dir / "header.wav").string();
  std::ofstream(header_only, std::ios::binary) << bytes.substr(0, 44);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {garbage, garbage + ": cannot decode the audio"},
      {(dir / "missing.wav").string(), "missing.wav: cannot decode the audio"},
      {header_only, header_only + ": "}};
  for (const auto& [file, want] : cases) {
    try {
      DecodeAudioFile(file);
      ADD_FAILURE() << file << " decoded";
    } catch (const DataError& e) {
      EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what();
    }
  }
  fs::remove_all(dir);
}

// A WAV file written byte by byte: `bits` per sample (8 unsigned, 16/24/32
// signed PCM, or 32 float when `is_float`), `channels` interleaved.
void WriteWav(const std::string& path, const std::vector<std::vector<double>>& channels, int rate, int bits, bool is_float) {
  const uint32_t frames = static_cast<uint32_t>(channels[0].size());
  const uint16_t nch = static_cast<uint16_t>(channels.size()), bytes = static_cast<uint16_t>(bits / 8);
  std::ofstream f(path, std::ios::binary);
  const auto u32 = [&](uint32_t v) { f.write(reinterpret_cast<const char*>(&v), 4); };
  const auto u16 = [&](uint16_t v) { f.write(reinterpret_cast<const char*>(&v), 2); };
  f << "RIFF";
  u32(36 + frames * nch * bytes);
  f << "WAVEfmt ";
  u32(16);
  u16(is_float ? 3 : 1), u16(nch), u32(static_cast<uint32_t>(rate)), u32(static_cast<uint32_t>(rate) * nch * bytes);
  u16(static_cast<uint16_t>(nch * bytes)), u16(static_cast<uint16_t>(bits));
  f << "data";
  u32(frames * nch * bytes);
  for (uint32_t i = 0; i < frames; ++i) {
    for (uint16_t c = 0; c < nch; ++c) {
      const double x = channels[c][i];
      if (is_float) {
        const float v = static_cast<float>(x);
        f.write(reinterpret_cast<const char*>(&v), 4);
      } else if (bits == 8) {
        f.put(static_cast<char>(static_cast<uint8_t>(std::lround(x * 127.0) + 128)));
      } else {
        const auto v = static_cast<int64_t>(std::lround(x * (std::pow(2.0, bits - 1) - 1)));
        for (int b = 0; b < bytes; ++b) f.put(static_cast<char>((v >> (8 * b)) & 0xFF));
      }
    }
  }
}

TEST(AudioDecode, EveryWavSampleFormatAndStereoDecodeToTheWave) {
  const auto dir = Scratch("formats");
  const int rate = 22050;
  std::vector<double> left(2205), right(2205);
  for (size_t i = 0; i < left.size(); ++i) {
    left[i] = 0.5 * std::sin(2 * M_PI * 440.0 * static_cast<double>(i) / rate);
    right[i] = 0.25 * std::cos(2 * M_PI * 220.0 * static_cast<double>(i) / rate);
  }
  struct Case {
    int bits;
    bool is_float;
    double tolerance;  // one quantisation step
  };
  for (const Case c : {Case{8, false, 1.0 / 120}, Case{16, false, 1e-4}, Case{24, false, 1e-6}, Case{32, false, 1e-6},
                       Case{32, true, 1e-7}}) {
    for (int nch : {1, 2}) {
      const std::string path = (dir / ("w" + std::to_string(c.bits) + (c.is_float ? "f" : "") + "_" +
                                       std::to_string(nch) + ".wav")).string();
      WriteWav(path, nch == 1 ? std::vector<std::vector<double>>{left} : std::vector<std::vector<double>>{left, right},
               rate, c.bits, c.is_float);
      const auto wave = DecodeAudioFile(path);
      EXPECT_EQ(wave.sample_rate, rate) << path;
      EXPECT_EQ(wave.channels, nch) << path;
      ASSERT_EQ(wave.samples.numel(), static_cast<int64_t>(left.size())) << path;
      double worst = 0;
      for (size_t i = 0; i < left.size(); ++i) {
        const double want = nch == 1 ? left[i] : (left[i] + right[i]) / 2;  // stereo averages to mono
        worst = std::max(worst, std::abs(wave.samples[static_cast<int64_t>(i)].item<double>() - want));
      }
      EXPECT_LE(worst, c.tolerance) << path;
      EXPECT_GT(wave.samples.abs().max().item<double>(), 0.3) << path << ": the wave is there";
    }
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace loom::data
