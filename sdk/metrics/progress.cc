#include "sdk/metrics/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>

#include "sdk/metrics/format.h"

namespace loom::metrics {

ProgressLine::ProgressLine(int64_t total_steps, std::ostream& out, Options options)
    : total_(std::max<int64_t>(total_steps, 1)), out_(out), options_(options) {
  options_.plain_every = std::max<int64_t>(options_.plain_every, 1);
  switch (options_.mode) {
    case Mode::kTty: tty_ = true; break;
    case Mode::kPlain: tty_ = false; break;
    case Mode::kAuto: tty_ = &out == &std::cout && isatty(STDOUT_FILENO); break;
  }
}

ProgressLine::ProgressLine(int64_t total_steps) : ProgressLine(total_steps, std::cout, {}) {}

ProgressLine::~ProgressLine() { Finish(); }

namespace {

// " | skipped 3 (corrupt image 2, missing file 1)" once a run skipped bad samples.
std::string Skipped(const StepMetrics& m) {
  if (!m.extra.is_object() || !m.extra.contains("bad_samples")) return "";
  int64_t total = 0;
  std::string parts;
  for (const auto& [reason, count] : m.extra["bad_samples"].items()) {
    if (!count.is_number_integer() || count.get<int64_t>() == 0) continue;
    total += count.get<int64_t>();
    parts += (parts.empty() ? "" : ", ") + reason + " " + std::to_string(count.get<int64_t>());
  }
  return total ? " | skipped " + std::to_string(total) + " (" + parts + ")" : "";
}

}  // namespace

std::string ProgressLine::Format(const StepMetrics& m, int64_t total_steps, double eta_seconds) {
  char loss[32];
  std::snprintf(loss, sizeof(loss), "%.4f", m.loss);
  return "step " + std::to_string(m.step) + "/" + std::to_string(total_steps) + " | loss " +
         loss + " | lr " + FormatLr(m.lr) + " | " + FormatRate(m.tokens_per_s) +
         " tok/s | ETA " + (eta_seconds < 0 ? std::string("-") : FormatDuration(eta_seconds)) + Skipped(m);
}

void ProgressLine::Update(const StepMetrics& m) {
  const auto now = std::chrono::steady_clock::now();
  const bool first = first_step_ < 0;
  if (first) first_step_ = m.step, first_time_ = now;
  // Seconds per step: measured wall time once two updates exist.
  double per_step = m.step_time_s;
  if (!first && m.step > first_step_) {
    per_step = std::chrono::duration<double>(now - first_time_).count() /
               static_cast<double>(m.step - first_step_);
  }
  const int64_t left = std::max<int64_t>(total_ - m.step, 0);
  const double eta = per_step > 0 ? per_step * static_cast<double>(left) : (left ? -1 : 0);
  last_line_ = Format(m, total_, eta);
  const bool last = m.step >= total_;
  if (tty_) {
    out_ << '\r' << last_line_ << "\x1b[K";
    pending_newline_ = true;
    if (last) Finish();
    out_.flush();
  } else if (first || last || m.step % options_.plain_every == 0) {
    out_ << last_line_ << '\n';
    out_.flush();
  }
}

void ProgressLine::Message(const std::string& text) {
  if (tty_ && pending_newline_) {
    out_ << "\r\x1b[K" << text << '\n' << last_line_ << "\x1b[K";
  } else {
    out_ << text << '\n';
  }
  out_.flush();
}

void ProgressLine::Finish() {
  if (!pending_newline_) return;
  out_ << '\n';
  out_.flush();
  pending_newline_ = false;
}

}  // namespace loom::metrics
