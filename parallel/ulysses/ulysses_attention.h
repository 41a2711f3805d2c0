// Ulysses sequence parallelism, installed as the model's attention backend
// (DecoderLM::SetAttentionBackend): the model is unchanged and unaware.
//
// Each of the P = sp ranks holds one contiguous slice of every packed row,
// positions [p*T/P, (p+1)*T/P) (the trainer slices after packing; position
// ids and document ids stay global). Around attention:
//   q (B, H, T/P, D)   --all-to-all-->  (B, H/P, T, D)  scatter heads, gather sequence
//   k, v (B, K, T/P, D) likewise, after replicating KV heads when K % P != 0
//   attention over whole rows for this rank's H/P heads (documents from the
//   all-gathered doc ids, cached for the forward)
//   out (B, H/P, T, D) --all-to-all-->  (B, H, T/P, D)
// Backward runs the inverse exchanges (comm/autograd.h).
//
// Async mode overlaps: q's exchange flies while k is projected, k's while v
// is, and the output is exchanged in two head chunks, the first while the
// second is attended. Same numbers as sync (an all-to-all only moves data).
#pragma once

#include <cstdint>
#include <string>

#include "ops/attention/attention.h"
#include "parallel/comm/communicator.h"

namespace loom::parallel {

enum class UlyssesMode { kSync, kAsync };

// "" when a model with `heads` query heads and `kv_heads` KV heads can run
// under sequence parallelism `sp`; otherwise the error, naming valid sizes.
std::string UlyssesLayoutError(int64_t heads, int64_t kv_heads, int64_t sp);

// How many times each KV head is repeated before the exchange so every rank
// gets the KV heads its query heads use: lcm(kv_heads, sp) / kv_heads.
int64_t UlyssesKvRepeat(int64_t kv_heads, int64_t sp);

class UlyssesAttention : public ops::AttentionBackend {
 public:
  UlyssesAttention(comm::CommunicatorPtr sp, UlyssesMode mode);

  at::Tensor Attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                    const ops::AttentionInputs& inputs) override;
  at::Tensor AttendProjected(const ops::QkvProjections& qkv, const ops::AttentionInputs& inputs) override;

  UlyssesMode mode() const { return mode_; }

 private:
  // (B, T/P) local doc ids -> (B, T) for the whole row; undefined stays so.
  at::Tensor GlobalDocIds(const at::Tensor& local);
  // Whether inputs.segments are the runs of the rows this rank's doc_ids
  // slice belongs to (so the gathered sequence needs no doc_ids gather).
  bool CoversGatheredRows(const ops::AttentionInputs& inputs) const;
  // k or v (B, K, T/P, D) with each KV head repeated so every rank gets the
  // KV heads of its query heads; ConfigError when `heads` does not split.
  at::Tensor ReplicateKv(const at::Tensor& kv, int64_t heads) const;
  at::Tensor AttendAsync(const ops::QkvProjections& qkv, const ops::AttentionInputs& inputs);

  comm::CommunicatorPtr sp_;
  UlyssesMode mode_;
  at::Tensor cached_local_ids_, cached_global_ids_;
};

}  // namespace loom::parallel
