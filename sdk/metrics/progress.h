// ProgressLine: the live one-line training status,
//   step 12/100 | loss 3.2145 | lr 2.9e-4 | 15.3k tok/s | ETA 1m12s
// On a terminal the line is rewritten in place (\r, clear to end of line);
// otherwise (a pipe, a log file, `loom launch` prefixing) a plain line is
// printed every `plain_every` steps, on the first update and on the last
// step, so logs stay readable.
//
// Thread-safety: not thread-safe; call from the training thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <string>

#include "sdk/metrics/run_store.h"

namespace loom::metrics {

class ProgressLine {
 public:
  enum class Mode {
    kAuto,   // kTty if `out` is std::cout and stdout is a terminal, else kPlain
    kTty,    // rewrite one line with \r
    kPlain,  // one line every plain_every steps
  };
  struct Options {
    Mode mode = Mode::kAuto;
    int64_t plain_every = 10;  // >= 1
  };

  /// @param[in] total_steps  the step count the ETA counts towards (>= 1).
  /// @param[in] out          where lines go; must outlive this object.
  ProgressLine(int64_t total_steps, std::ostream& out, Options options);
  explicit ProgressLine(int64_t total_steps);  // std::cout, default Options
  ~ProgressLine();  // calls Finish()

  /// Shows `m` (step, loss, lr, tokens_per_s). The ETA is the mean wall time
  /// per step since the first Update times the steps left (m.step_time_s
  /// until two updates have been seen).
  void Update(const StepMetrics& m);

  /// Prints a full line (e.g. an eval result) without garbling the live line.
  void Message(const std::string& text);

  /// Ends the live line with a newline if one is pending. Idempotent.
  void Finish();

  bool is_tty() const { return tty_; }

  /// The line for `m` without any control characters. eta_seconds < 0
  /// prints "ETA -".
  static std::string Format(const StepMetrics& m, int64_t total_steps, double eta_seconds);

 private:
  int64_t total_;
  std::ostream& out_;
  Options options_;
  bool tty_ = false;
  bool pending_newline_ = false;  // a \r line is on screen without its \n
  std::string last_line_;
  int64_t first_step_ = -1;
  std::chrono::steady_clock::time_point first_time_;
};

}  // namespace loom::metrics
