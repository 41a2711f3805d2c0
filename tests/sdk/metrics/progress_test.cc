// ProgressLine, the formatting helpers and PeakRssBytes.
#include "sdk/metrics/progress.h"

#include <cstring>
#include <memory>
#include <sstream>

#include <gtest/gtest.h>

#include "sdk/metrics/format.h"
#include "sdk/metrics/memory.h"

namespace loom::metrics {
namespace {

StepMetrics At(int64_t step) {
  StepMetrics m;
  m.step = step;
  m.loss = 3.21449;
  m.lr = 2.9e-4;
  m.tokens_per_s = 15300;
  m.step_time_s = 0.8;
  return m;
}

TEST(Format, Helpers) {
  EXPECT_EQ(FormatDuration(45), "45s");
  EXPECT_EQ(FormatDuration(72), "1m12s");
  EXPECT_EQ(FormatDuration(7380), "2h03m");
  EXPECT_EQ(FormatDuration(-1), "-");
  EXPECT_EQ(FormatRate(950), "950");
  EXPECT_EQ(FormatRate(15300), "15.3k");
  EXPECT_EQ(FormatRate(1.25e6), "1.2M");
  EXPECT_EQ(FormatLr(2.9e-4), "2.9e-4");
  EXPECT_EQ(FormatLr(3e-4), "3e-4");
  EXPECT_EQ(FormatLr(0.001), "1e-3");
  EXPECT_EQ(FormatLr(0), "0");
  EXPECT_EQ(FormatBytes(512), "512 B");
  EXPECT_EQ(FormatBytes(3 * 1024 * 1024 + 512 * 1024), "3.5 MiB");
  EXPECT_EQ(FormatShortest(0.1), "0.1");
  EXPECT_EQ(FormatShortest(15300), "15300");
  EXPECT_EQ(FormatShortest(1e-6), "1e-06");
  EXPECT_EQ(FormatShortest(1.0 / 3.0), "0.3333333333333333");
  EXPECT_EQ(FormatLocalTime(0), "-");
  EXPECT_EQ(FormatLocalTime(1.7e9).size(), 19u);
}

TEST(ProgressLine, FormatMatchesTheDocumentedLine) {
  StepMetrics m = At(12);
  EXPECT_EQ(ProgressLine::Format(m, 100, 72),
            "step 12/100 | loss 3.2145 | lr 2.9e-4 | 15.3k tok/s | ETA 1m12s");
  EXPECT_EQ(ProgressLine::Format(m, 100, -1),
            "step 12/100 | loss 3.2145 | lr 2.9e-4 | 15.3k tok/s | ETA -");
}

TEST(ProgressLine, PlainPrintsEveryNStepsFirstAndLast) {
  std::ostringstream out;
  {
    ProgressLine line(25, out, {ProgressLine::Mode::kPlain, 10});
    EXPECT_FALSE(line.is_tty());
    for (int64_t step = 1; step <= 25; ++step) line.Update(At(step));
  }
  const std::string text = out.str();
  EXPECT_EQ(text.find('\r'), std::string::npos);
  std::istringstream lines(text);
  std::vector<std::string> got;
  for (std::string l; std::getline(lines, l);) got.push_back(l.substr(0, l.find(" |")));
  EXPECT_EQ(got, (std::vector<std::string>{"step 1/25", "step 10/25", "step 20/25",
                                           "step 25/25"}));
  EXPECT_NE(text.find("ETA 0s"), std::string::npos) << text;  // the last line
  // The first line estimates from step_time_s: 24 steps left x 0.8 s.
  EXPECT_NE(text.find("step 1/25 | loss 3.2145 | lr 2.9e-4 | 15.3k tok/s | ETA 19s"),
            std::string::npos)
      << text;
}

TEST(ProgressLine, TtyRewritesOneLine) {
  std::ostringstream out;
  ProgressLine line(3, out, {ProgressLine::Mode::kTty, 10});
  EXPECT_TRUE(line.is_tty());
  line.Update(At(1));
  line.Update(At(2));
  line.Message("eval loss 3.1");
  EXPECT_EQ(out.str().find('\n'), out.str().rfind('\n'));  // only the message's newline
  line.Update(At(3));  // the last step ends the line
  const std::string text = out.str();
  EXPECT_EQ(text.rfind("\r", 0), 0u);
  EXPECT_NE(text.find("\r\x1b[Keval loss 3.1\n"), std::string::npos);
  EXPECT_EQ(text.back(), '\n');
  line.Finish();  // idempotent: no second newline
  EXPECT_EQ(out.str(), text);
}

TEST(PeakRssBytes, GrowsWhenMemoryIsTouched) {
  const int64_t before = PeakRssBytes();
  EXPECT_GT(before, 1 << 20);
  const size_t size = static_cast<size_t>(before) + (64 << 20);  // past the old peak
  std::unique_ptr<char[]> block(new char[size]);
  std::memset(block.get(), 1, size);
  EXPECT_GE(PeakRssBytes(), before + (32 << 20));
  EXPECT_EQ(block[size - 1], 1);
}

}  // namespace
}  // namespace loom::metrics
