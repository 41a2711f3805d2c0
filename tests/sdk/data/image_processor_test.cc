// The Qwen2-VL image processor against transformers'
// Qwen2VLImageProcessorFast on real PNGs (tests/models/image_processor_oracle.py,
// in .venv-cuda): 56 emoji PNGs and sprite sheets (RGBA, gray + alpha,
// palette; 64 to 4092 px) and 10 crops (non-square, tiny, a 1:150 strip),
// through decode, smart_resize, the antialiased bicubic resize, normalise and
// patchify. Bound 1e-5 max-abs: one uint8 level off anywhere is
// 1 / (255 std) ~ 1.5e-2.
#include "sdk/data/image_processor.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <ATen/ATen.h>

#include "ops/base/error.h"
#include "sdk/data/image_decode.h"
#include "tests/testing/oracle.h"

namespace loom::data {
namespace {

namespace fs = std::filesystem;

TEST(ImageProcessor, EqualsTransformersFastProcessorOnRealPngs) {
  const std::string dir = testing::OracleDirWith(testing::CudaVenvPython(),
                                                 testing::OracleScript("image_processor_oracle.py"), "qwen2_vl_images");
  const auto ref = models::SafetensorsFiles::Open(dir + "/ref.safetensors");
  std::ifstream list(dir + "/images.txt");
  std::string path;
  int n = 0, real = 0, upscaled = 0, downscaled = 0, palette = 0;
  double worst = 0;
  while (std::getline(list, path)) {
    if (path.front() != '/') path = dir + "/" + path;  // a crop the oracle wrote
    const auto rgb = DecodeImageFile(path);
    const auto got = ProcessQwen2VlImage(rgb);
    const auto want_grid = ref.Get("image_grid_thw." + std::to_string(n));
    const auto want = ref.Get("pixel_values." + std::to_string(n));
    ASSERT_TRUE(got.grid_thw.equal(want_grid)) << path << ": grid " << got.grid_thw << " vs " << want_grid;
    ASSERT_EQ(got.pixel_values.sizes(), want.sizes()) << path;
    const double diff = testing::MaxAbsDiff(got.pixel_values, want);
    EXPECT_LE(diff, 1e-5) << path;
    worst = std::max(worst, diff);
    const int64_t pixels = rgb.size(1) * rgb.size(2), resized = got.pixel_values.size(0) * 14 * 14;
    upscaled += resized > pixels;
    downscaled += pixels > Qwen2VlImageOptions{}.max_pixels;
    real += path.find("/.cache/assets/emoji/") != std::string::npos;
    palette += path.find("_P.png") != std::string::npos;
    ++n;
  }
  std::printf("%d images (%d real PNGs, %d upscaled, %d downscaled, %d palette crops): worst max-abs %.3g\n", n, real,
              upscaled, downscaled, palette, worst);
  EXPECT_GE(real, 50);
  EXPECT_GE(upscaled, 2) << "the min_pixels path";
  EXPECT_GE(downscaled, 8) << "the max_pixels path";
  EXPECT_GE(palette, 5);
}

TEST(ImageProcessor, SmartResizeRules) {
  const Qwen2VlImageOptions o;
  EXPECT_EQ(SmartResize(64, 64, o), (std::pair<int64_t, int64_t>{56, 56}));
  EXPECT_EQ(SmartResize(70, 70, o), (std::pair<int64_t, int64_t>{56, 56})) << "70 / 28 = 2.5 rounds half to even";
  EXPECT_EQ(SmartResize(98, 98, o), (std::pair<int64_t, int64_t>{112, 112})) << "3.5 rounds to 4";
  EXPECT_EQ(SmartResize(20, 30, o), (std::pair<int64_t, int64_t>{56, 84})) << "below min_pixels: scaled up, ceiled";
  const auto [h, w] = SmartResize(4092, 4092, o);
  EXPECT_LE(h * w, o.max_pixels);
  EXPECT_EQ(h % 28, 0);
  EXPECT_EQ(h, 980) << "above max_pixels: 4092 / sqrt(4092^2 / max) / 28 = 35.8, floored to 35 x 28";
  EXPECT_THROW(SmartResize(10, 2010, o), DataError);
  EXPECT_THROW(SmartResize(0, 10, o), DataError);
}

TEST(ImageProcessor, PatchesAreMergeGroupsOfTheImage) {
  // A 56 x 84 image (no resize): 4 x 6 patches, 6 merge groups of 2 x 2.
  auto rgb = at::randint(0, 256, {3, 56, 84}, at::kByte);
  const auto out = ProcessQwen2VlImage(rgb);
  EXPECT_TRUE(out.grid_thw.equal(at::tensor(std::vector<int64_t>{1, 4, 6}, at::kLong)));
  EXPECT_EQ(out.tokens(), 6);
  ASSERT_EQ(out.pixel_values.sizes(), (std::vector<int64_t>{24, 3 * 2 * 14 * 14}));
  // Row 1 is the second patch of the first merge group: pixels [0, 14) x [14, 28), frame 0, channel 0.
  const auto x = (rgb.to(at::kFloat) - 0.48145466f * 255) / (0.26862954f * 255);
  const auto want = x[0].slice(0, 0, 14).slice(1, 14, 28).reshape({-1});
  EXPECT_LE(testing::MaxAbsDiff(out.pixel_values[1].slice(0, 0, 196), want), 1e-5);
  // The second frame repeats the first.
  EXPECT_TRUE(out.pixel_values[1].slice(0, 0, 196).equal(out.pixel_values[1].slice(0, 196, 392)));
  // Rows 0-3 are merge group (0, 0); row 4 starts group (0, 1): pixels [0, 14) x [28, 42).
  const auto group1 = x[0].slice(0, 0, 14).slice(1, 28, 42).reshape({-1});
  EXPECT_LE(testing::MaxAbsDiff(out.pixel_values[4].slice(0, 0, 196), group1), 1e-5);
}

TEST(ImageDecode, BadFilesAreNamed) {
  const fs::path dir = fs::temp_directory_path() / ("loom_img_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string png = std::string(LOOM_SOURCE_DIR) + "/.cache/assets/emoji/img/google/64/1f600.png";
  std::ifstream in(png, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(bytes.size(), 200u);
  const auto truncated = (dir / "truncated.png").string();
  std::ofstream(truncated, std::ios::binary) << bytes.substr(0, bytes.size() / 3);
  const auto garbage = (dir / "garbage.png").string();
  std::ofstream(garbage, std::ios::binary) << "not an image at all";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {truncated, truncated + ": cannot decode the image ("},
      {garbage, garbage + ": cannot decode the image ("},
      {(dir / "missing.png").string(), "missing.png: cannot open the image"}};
  for (const auto& [file, want] : cases) {
    try {
      DecodeImageFile(file);
      ADD_FAILURE() << file << " decoded";
    } catch (const DataError& e) {
      EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what();
    }
  }
  const auto rgb = DecodeImageFile(png);
  EXPECT_EQ(rgb.sizes(), (std::vector<int64_t>{3, 64, 64}));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace loom::data
