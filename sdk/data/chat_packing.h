// How ChatLoader groups whole conversations into rows, one epoch at a time.
//
// Fixed rows (max_tokens 0): conversations in the epoch's order fill rows of
// seq_len positions; one that does not fit what is left starts the next row
// (pack false: every conversation its own row).
//
// Dynamic batching (max_tokens > 0): each micro-batch is one row whose cost
// is at most max_tokens. The rule for a conversation's cost:
//
//   cost = its LLM positions (text + placeholders + eos)
//        + encoder_token_cost x its encoder positions
//
// where an image's encoder positions are its patches (tokens x merge^2) and
// a clip's are its frames after the convolutions (tokens x 2 for the pooling
// qwen2_audio encoder, tokens for whisper). Within each window of `window`
// conversations (in the epoch's order) they go first-fit decreasing by cost
// into rows; the rows keep the order of their first conversation, and each
// row lists its conversations in epoch order. A conversation whose length
// or cost exceeds the row is skipped and counted.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

namespace loom::data {

class ChatDataset;

struct PackingOptions {
  int64_t seq_len = 256;          // fixed rows: positions per row
  int64_t max_tokens = 0;         // > 0: dynamic batching, the cost budget of a micro-batch's row
  double encoder_token_cost = 0;  // dynamic: LLM tokens one encoder position costs
  int64_t window = 256;           // dynamic: conversations packed together
  // Fixed rows only: false = no packing, one conversation per row (the
  // baseline of fixed-size batching; a batch is padded to its longest row).
  bool pack = true;
};

struct PackedRow {
  std::vector<int64_t> docs;  // in epoch order
  int64_t length = 0;         // LLM positions used
  int64_t too_long = 0;       // overlong conversations skipped, counted here
};

// The cost of conversation `doc` under the rule above.
int64_t ConversationCost(const ChatDataset& dataset, int64_t doc, double encoder_token_cost);

// The rows of one epoch visiting `order`; length(d) and cost(d) of each
// conversation. Every overlong conversation is counted in one row's too_long
// (the next row started, or the last). Empty when none fits.
std::vector<PackedRow> PackEpoch(const std::vector<int64_t>& order, const std::function<int64_t(int64_t)>& length,
                                 const std::function<int64_t(int64_t)>& cost, const PackingOptions& options);

}  // namespace loom::data
