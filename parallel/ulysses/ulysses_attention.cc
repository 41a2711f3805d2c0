#include "parallel/ulysses/ulysses_attention.h"

#include <numeric>
#include <sstream>
#include <vector>

#include <ATen/ATen.h>

#include "ops/base/error.h"
#include "parallel/comm/autograd.h"

namespace loom::parallel {
namespace {

// (B, n, S, D) -> pieces (P, B, n/P, S, D): piece q holds head block q.
at::Tensor HeadPieces(const at::Tensor& x, int64_t p) { return at::stack(x.chunk(p, 1), 0); }

// Received head blocks (P, B, n, S, D), row q = sequence slice q -> (B, n, P*S, D).
at::Tensor JoinSequence(const at::Tensor& r) {
  const int64_t p = r.size(0), b = r.size(1), n = r.size(2), s = r.size(3), d = r.size(4);
  return r.permute({1, 2, 0, 3, 4}).reshape({b, n, p * s, d});
}

}  // namespace

bool UlyssesAttention::CoversGatheredRows(const ops::AttentionInputs& inputs) const {
  // The collator's runs of the whole rows make gathering doc_ids unneeded.
  const auto* s = inputs.segments;
  return s && inputs.doc_ids.defined() && s->seq_len == inputs.doc_ids.size(1) * sp_->size() &&
         static_cast<int64_t>(s->rows.size()) == inputs.doc_ids.size(0);
}

at::Tensor UlyssesAttention::ReplicateKv(const at::Tensor& kv, int64_t heads) const {
  const int64_t p = sp_->size();
  if (auto err = UlyssesLayoutError(heads, kv.size(1), p); !err.empty()) throw ConfigError(err);
  const int64_t repeat = UlyssesKvRepeat(kv.size(1), p);
  return repeat > 1 ? kv.repeat_interleave(repeat, 1) : kv;
}

std::string UlyssesLayoutError(int64_t heads, int64_t kv_heads, int64_t sp) {
  if (sp <= 1 || heads % sp == 0) return "";
  std::vector<int64_t> valid;
  for (int64_t d = 1; d <= heads; ++d) {
    if (heads % d == 0) valid.push_back(d);
  }
  std::ostringstream os;
  os << "num_attention_heads " << heads << " is not divisible by parallel.sp " << sp
     << " (Ulysses gives each SP rank heads / sp whole heads; " << kv_heads
     << " KV heads are replicated as needed)";
  std::ostringstream fix;
  fix << "set parallel.sp to one of";
  for (size_t i = 0; i < valid.size(); ++i) fix << (i ? ", " : " ") << valid[i];
  return ErrorWithFix(os.str(), fix.str());
}

int64_t UlyssesKvRepeat(int64_t kv_heads, int64_t sp) { return std::lcm(kv_heads, sp) / kv_heads; }

UlyssesAttention::UlyssesAttention(comm::CommunicatorPtr sp, UlyssesMode mode)
    : sp_(std::move(sp)), mode_(mode) {}

at::Tensor UlyssesAttention::GlobalDocIds(const at::Tensor& local) {
  if (!local.defined()) return local;
  // Cached per tensor: every layer (and a recompute re-run) sees the same
  // local ids object; holding it keeps its address from being reused.
  if (cached_local_ids_.defined() && cached_local_ids_.unsafeGetTensorImpl() == local.unsafeGetTensorImpl()) {
    return cached_global_ids_;
  }
  auto gathered = comm::AllGatherDim0(*sp_, local.t().contiguous());  // (T, B)
  cached_local_ids_ = local;
  cached_global_ids_ = gathered.t().contiguous();
  return cached_global_ids_;
}

at::Tensor UlyssesAttention::Attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                    const ops::AttentionInputs& inputs) {
  auto kr = ReplicateKv(k, q.size(1));
  auto vr = ReplicateKv(v, q.size(1));
  ops::AttentionInputs global = inputs;
  if (!CoversGatheredRows(inputs)) global.doc_ids = GlobalDocIds(inputs.doc_ids);
  // (B, n, T/P, D) -> (B, n/P, T, D): scatter heads (dim 1), gather sequence (dim 2).
  auto qh = comm::AllToAllScatterGather(q, sp_, 1, 2);
  auto kh = comm::AllToAllScatterGather(kr, sp_, 1, 2);
  auto vh = comm::AllToAllScatterGather(vr, sp_, 1, 2);
  auto out = ops::CausalAttention(qh, kh, vh, global);  // (B, H/P, T, D)
  return comm::AllToAllScatterGather(out, sp_, 2, 1);   // (B, H, T/P, D)
}

at::Tensor UlyssesAttention::AttendProjected(const ops::QkvProjections& qkv, const ops::AttentionInputs& inputs) {
  if (mode_ == UlyssesMode::kSync) return AttentionBackend::AttendProjected(qkv, inputs);
  return AttendAsync(qkv, inputs);
}

at::Tensor UlyssesAttention::AttendAsync(const ops::QkvProjections& qkv, const ops::AttentionInputs& inputs) {
  const int64_t p = sp_->size();
  ops::AttentionInputs global = inputs;
  if (!CoversGatheredRows(inputs)) global.doc_ids = GlobalDocIds(inputs.doc_ids);  // before the exchanges: usually cached

  // q's exchange flies while k is projected, k's while v is.
  comm::PendingAllToAll pq, pk, pv;
  auto q = qkv.q();  // (B, H, T/P, D)
  const int64_t b = q.size(0), heads = q.size(1), local_len = q.size(2), dim = q.size(3);
  auto rq = comm::StartAllToAll(HeadPieces(q, p), sp_, &pq);
  auto k = ReplicateKv(qkv.k(), heads);
  auto rk = comm::StartAllToAll(HeadPieces(k, p), sp_, &pk);
  auto v = ReplicateKv(qkv.v(), heads);
  auto rv = comm::StartAllToAll(HeadPieces(v, p), sp_, &pv);
  pq.Wait();
  pk.Wait();
  pv.Wait();
  auto qh = JoinSequence(rq), kh = JoinSequence(rk), vh = JoinSequence(rv);  // (B, n/P, T, D)

  // The output goes back in head chunks: chunk c's exchange flies while
  // chunk c+1 is attended. KV heads follow their query heads (or, with a
  // single local KV head, serve every chunk).
  const int64_t hq = qh.size(1), hk = kh.size(1);
  const int64_t chunks = (hq % 2 == 0 && (hk % 2 == 0 || hk == 1)) ? 2 : 1;
  std::vector<comm::PendingAllToAll> pending(chunks);
  std::vector<at::Tensor> received;
  for (int64_t c = 0; c < chunks; ++c) {
    auto qc = qh.chunk(chunks, 1)[c];
    auto kc = hk == 1 ? kh : kh.chunk(chunks, 1)[c];
    auto vc = hk == 1 ? vh : vh.chunk(chunks, 1)[c];
    auto out = ops::CausalAttention(qc, kc, vc, global);  // (B, hq/C, T, D)
    // Pieces (P, B, hq/C, T/P, D): sequence slice q goes to rank q.
    received.push_back(comm::StartAllToAll(at::stack(out.chunk(p, 2), 0), sp_, &pending[c]));
  }
  for (auto& w : pending) w.Wait();
  // (P, C, B, hq/C, T/P, D) -> (B, P, C, hq/C, T/P, D) -> (B, H, T/P, D):
  // global head = source rank * hq + chunk * hq/C + j.
  return at::stack(received, 1).permute({2, 0, 1, 3, 4, 5}).reshape({b, heads, local_len, dim});
}

}  // namespace loom::parallel
