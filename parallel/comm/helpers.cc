// Blocking helpers layered on the Communicator interface.
#include <numeric>

#include <ATen/ATen.h>

#include "ops/base/error.h"
#include "parallel/comm/communicator.h"

namespace loom::comm {

at::Tensor AllGatherDim0(Communicator& comm, const at::Tensor& input) {
  auto in = input.contiguous();
  std::vector<int64_t> sizes = in.sizes().vec();
  if (sizes.empty()) sizes.push_back(1), in = in.reshape({1});
  sizes[0] *= comm.size();
  auto output = at::empty(sizes, in.options());
  comm.AllGather(output, in)->Wait();
  return output;
}

double AllReduceSum(Communicator& comm, double value) {
  auto t = at::full({1}, value, at::TensorOptions().dtype(at::kDouble).device(comm.device()));
  comm.AllReduce(t)->Wait();
  return t.item<double>();
}

AllToAllResult AllToAllExchange(Communicator& comm, const at::Tensor& input,
                                const std::vector<int64_t>& input_split_sizes) {
  if (static_cast<int>(input_split_sizes.size()) != comm.size()) {
    throw ConfigError("AllToAllExchange: " + std::to_string(input_split_sizes.size()) +
                      " split sizes for a group of " + std::to_string(comm.size()));
  }
  // Counts first: one int64 per peer each way.
  auto send_counts = at::tensor(input_split_sizes, at::kLong).to(comm.device());
  auto recv_counts = at::empty_like(send_counts);
  comm.AllToAll(recv_counts, send_counts)->Wait();
  recv_counts = recv_counts.cpu();
  AllToAllResult result;
  result.output_split_sizes.assign(recv_counts.data_ptr<int64_t>(),
                                   recv_counts.data_ptr<int64_t>() + comm.size());
  const int64_t rows = std::accumulate(result.output_split_sizes.begin(),
                                       result.output_split_sizes.end(), int64_t{0});
  std::vector<int64_t> sizes = input.sizes().vec();
  sizes[0] = rows;
  result.output = at::empty(sizes, input.options());
  AllToAllOptions options;
  options.input_split_sizes = input_split_sizes;
  options.output_split_sizes = result.output_split_sizes;
  comm.AllToAll(result.output, input.contiguous(), options)->Wait();
  return result;
}

}  // namespace loom::comm
