#include "sdk/data/chat_packing.h"

#include <algorithm>
#include <cmath>

#include "sdk/data/chat_dataset.h"

namespace loom::data {

int64_t ConversationCost(const ChatDataset& dataset, int64_t doc, double encoder_token_cost) {
  const int64_t llm = dataset.tokens().DocLength(doc);
  if (encoder_token_cost <= 0) return llm;
  const int64_t merge = dataset.image_options().merge_size;
  const int64_t audio_factor = dataset.audio_encoder() == "whisper" ? 1 : 2;
  int64_t encoder = 0;
  for (const auto& m : dataset.sample(doc).media) {
    encoder += m.kind == MediaKind::kImage ? m.tokens * merge * merge : m.tokens * audio_factor;
  }
  return llm + static_cast<int64_t>(std::ceil(encoder_token_cost * static_cast<double>(encoder)));
}

namespace {

std::vector<PackedRow> PackFixed(const std::vector<int64_t>& order, const std::function<int64_t(int64_t)>& length,
                                 int64_t seq_len, bool pack, int64_t* pending_too_long) {
  std::vector<PackedRow> rows;
  for (int64_t d : order) {
    const int64_t len = length(d);
    if (len > seq_len) {
      ++*pending_too_long;
      continue;
    }
    if (rows.empty() || !pack || rows.back().length + len > seq_len) {
      rows.emplace_back();
      rows.back().too_long = *pending_too_long;
      *pending_too_long = 0;
    }
    rows.back().docs.push_back(d);
    rows.back().length += len;
  }
  return rows;
}

size_t window(const PackingOptions& o) { return static_cast<size_t>(std::max<int64_t>(1, o.window)); }

}  // namespace

std::vector<PackedRow> PackEpoch(const std::vector<int64_t>& order, const std::function<int64_t(int64_t)>& length,
                                 const std::function<int64_t(int64_t)>& cost, const PackingOptions& o) {
  int64_t pending = 0;
  std::vector<PackedRow> rows;
  if (o.max_tokens <= 0) rows = PackFixed(order, length, o.seq_len, o.pack, &pending);
  for (size_t start = 0; o.max_tokens > 0 && start < order.size(); start += window(o)) {
    const size_t end = std::min(order.size(), start + window(o));
    // (index in epoch order) of the window's fitting conversations, by cost, largest first.
    std::vector<size_t> idx;
    std::vector<int64_t> costs(end - start);
    for (size_t i = start; i < end; ++i) {
      const int64_t d = order[i];
      costs[i - start] = cost(d);
      if (length(d) > o.max_tokens || costs[i - start] > o.max_tokens) {
        ++pending;  // attributed to the window's first row
        continue;
      }
      idx.push_back(i);
    }
    std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return costs[a - start] > costs[b - start]; });
    std::vector<PackedRow> bins;
    std::vector<int64_t> used;  // cost per bin
    for (size_t i : idx) {
      const int64_t c = costs[i - start];
      size_t b = 0;
      while (b < bins.size() && used[b] + c > o.max_tokens) ++b;
      if (b == bins.size()) {
        bins.emplace_back();
        used.push_back(0);
      }
      bins[b].docs.push_back(static_cast<int64_t>(i));  // epoch index for now
      bins[b].length += length(order[i]);
      used[b] += c;
    }
    for (auto& bin : bins) std::sort(bin.docs.begin(), bin.docs.end());
    std::sort(bins.begin(), bins.end(), [](const PackedRow& a, const PackedRow& b) { return a.docs[0] < b.docs[0]; });
    for (auto& bin : bins) {
      for (auto& d : bin.docs) d = order[static_cast<size_t>(d)];
      rows.push_back(std::move(bin));
    }
    if (!bins.empty()) {
      rows[rows.size() - bins.size()].too_long += pending;
      pending = 0;
    }
  }
  if (!rows.empty()) rows.back().too_long += pending;  // overlong ones after the last row's first
  return rows;
}

}  // namespace loom::data
