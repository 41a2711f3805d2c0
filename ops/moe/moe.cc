#include "ops/moe/moe.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include "ops/base/error.h"

namespace loom::ops {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Identity whose backward makes the incoming gradient contiguous:
// _grouped_mm's backward rejects expanded (stride 0) gradients.
struct ContiguousGradFn : torch::autograd::Function<ContiguousGradFn> {
  static at::Tensor forward(AutogradContext*, const at::Tensor& x) { return x; }
  static variable_list backward(AutogradContext*, variable_list grads) { return {grads[0].contiguous()}; }
};

bool RowStrideAligned(int64_t elements, const at::Tensor& t) { return (elements * t.element_size()) % 16 == 0; }

}  // namespace

ExpertPermutation PermuteByExpert(const at::Tensor& topk_ids, int64_t num_experts) {
  if (topk_ids.dim() != 2) throw Error("PermuteByExpert: topk_ids must be (N, k), got " + std::to_string(topk_ids.dim()) + " dims");
  ExpertPermutation p;
  auto flat = topk_ids.reshape({-1}).to(at::kLong);
  // Stable: rows of one expert keep token order (deterministic, like HF's loop).
  p.order = std::get<1>(at::sort(flat, /*stable=*/true, /*dim=*/0, /*descending=*/false));
  p.token_of_row = at::div(p.order, topk_ids.size(1), "floor");
  p.counts = at::bincount(flat, {}, num_experts);
  auto host = p.counts.to(at::kCPU);
  p.counts_host.assign(host.data_ptr<int64_t>(), host.data_ptr<int64_t>() + num_experts);
  return p;
}

at::Tensor PermuteTokens(const at::Tensor& x, const ExpertPermutation& perm) {
  return x.index_select(0, perm.token_of_row);
}

at::Tensor UnpermuteTokens(const at::Tensor& rows, const at::Tensor& topk_weights, const ExpertPermutation& perm,
                           int64_t num_tokens) {
  auto w = topk_weights.reshape({-1}).index_select(0, perm.order).to(rows.scalar_type());  // (M)
  auto out = at::zeros({num_tokens, rows.size(1)}, rows.options());
  return out.index_add(0, perm.token_of_row, rows * w.unsqueeze(1));
}

at::Tensor GroupedLinear(const at::Tensor& x, const at::Tensor& w, const std::vector<int64_t>& counts,
                         bool allow_grouped_mm) {
  const int64_t groups = w.size(0), out_f = w.size(1), in_f = w.size(2);
  if (static_cast<int64_t>(counts.size()) != groups || x.dim() != 2 || x.size(1) != in_f) {
    throw Error("GroupedLinear: x (M, in) = " + std::to_string(x.size(0)) + "x" + std::to_string(x.size(-1)) +
                " does not fit w (G, out, in) with " + std::to_string(counts.size()) + " counts");
  }
  auto wc = w.to(x.scalar_type());
  // CPU: fp32 and bf16 kernels; CUDA: bf16 only (sm90+ grouped GEMM).
  const bool dtype_ok = x.is_cpu() ? (x.scalar_type() == at::kFloat || x.scalar_type() == at::kBFloat16)
                                   : x.scalar_type() == at::kBFloat16;
  const bool grouped_ok = allow_grouped_mm && dtype_ok && RowStrideAligned(in_f, x) && RowStrideAligned(out_f, x) &&
                          x.size(0) > 0;
  if (grouped_ok) {
    std::vector<int32_t> offs(counts.size());
    int64_t end = 0;
    for (size_t g = 0; g < counts.size(); ++g) offs[g] = static_cast<int32_t>(end += counts[g]);
    auto offsets = at::tensor(offs, at::TensorOptions().dtype(at::kInt)).to(x.device());
    auto y = at::_grouped_mm(x.contiguous(), wc.transpose(1, 2), offsets);
    return ContiguousGradFn::apply(y);
  }
  std::vector<at::Tensor> parts;
  int64_t start = 0;
  for (int64_t g = 0; g < groups; ++g) {
    // An empty slice still links w[g] into the graph: its gradient is zero.
    parts.push_back(at::matmul(x.slice(0, start, start + counts[g]), wc[g].t()));
    start += counts[g];
  }
  return at::cat(parts, 0);
}

at::Tensor SwigluExperts(const at::Tensor& x, const at::Tensor& gate_proj, const at::Tensor& up_proj,
                         const at::Tensor& down_proj, const std::vector<int64_t>& counts, bool allow_grouped_mm) {
  auto h = at::silu(GroupedLinear(x, gate_proj, counts, allow_grouped_mm)) *
           GroupedLinear(x, up_proj, counts, allow_grouped_mm);
  return GroupedLinear(h, down_proj, counts, allow_grouped_mm);
}

}  // namespace loom::ops
