#include "parallel/mesh/parallel_state.h"

#include <sstream>

#include "ops/base/error.h"

namespace loom::parallel {
namespace {

std::string Divisors(int n) {
  std::string out;
  for (int d = 1; d <= n; ++d) {
    if (n % d == 0) out += (out.empty() ? "" : ", ") + std::to_string(d);
  }
  return out;
}

}  // namespace

const char* GroupKindName(GroupKind kind) {
  switch (kind) {
    case GroupKind::kDpReplicate: return "dp_replicate";
    case GroupKind::kDpShard: return "dp_shard";
    case GroupKind::kSp: return "sp";
    case GroupKind::kFsdp: return "fsdp";
    case GroupKind::kDp: return "dp";
    case GroupKind::kEp: return "ep";
    case GroupKind::kExpertFsdp: return "expert_fsdp";
  }
  return "?";
}

std::string ParallelState::Validate(int world, const MeshShape& s) {
  std::ostringstream os;
  if (world < 1) return "world size " + std::to_string(world) + " must be >= 1";
  const auto positive = [&](const char* name, int v) {
    if (v < 1 && os.tellp() == 0) os << name << " " << v << " must be >= 1";
  };
  positive("dp_replicate", s.dp_replicate);
  if (s.dp_shard != -1) positive("dp_shard", s.dp_shard);
  positive("sp", s.sp);
  positive("ep", s.ep);
  if (os.tellp() != 0) return os.str();

  int dp_shard = s.dp_shard;
  if (dp_shard == -1) {
    const int rest = s.dp_replicate * s.sp;
    if (world % rest != 0) {
      return ErrorWithFix("world size " + std::to_string(world) + " is not divisible by dp_replicate " +
                              std::to_string(s.dp_replicate) + " x sp " + std::to_string(s.sp) +
                              " = " + std::to_string(rest),
                          "choose dp_replicate x sp among the divisors of " +
                              std::to_string(world) + " (" + Divisors(world) + ")");
    }
    dp_shard = world / rest;
  }
  const int product = s.dp_replicate * dp_shard * s.sp;
  if (product != world) {
    std::string fix;
    const int rest = s.dp_replicate * s.sp;
    if (world % rest == 0) {
      fix = "set dp_shard to " + std::to_string(world / rest) + ", or run on " +
            std::to_string(product) + " ranks";
    } else {
      fix = "run on " + std::to_string(product) + " ranks, or choose sizes whose product is " +
            std::to_string(world);
    }
    return ErrorWithFix("world size " + std::to_string(world) + " != dp_replicate " +
                            std::to_string(s.dp_replicate) + " x dp_shard " +
                            std::to_string(dp_shard) + " x sp " + std::to_string(s.sp) + " = " +
                            std::to_string(product),
                        fix);
  }
  const int fsdp = dp_shard * s.sp;
  if (fsdp % s.ep != 0) {
    return ErrorWithFix("ep " + std::to_string(s.ep) + " does not divide dp_shard x sp = " +
                            std::to_string(fsdp) + " (experts are carved out of the fsdp group)",
                        "choose ep among " + Divisors(fsdp));
  }
  return "";
}

ParallelState ParallelState::Create(int world_size, MeshShape shape) {
  const std::string error = Validate(world_size, shape);
  if (!error.empty()) throw ConfigError(error);
  if (shape.dp_shard == -1) shape.dp_shard = world_size / (shape.dp_replicate * shape.sp);
  return ParallelState(world_size, shape);
}

int ParallelState::RankOf(int r, int s, int p) const {
  return (r * shape_.dp_shard + s) * shape_.sp + p;
}

RankCoordinates ParallelState::Coordinates(int rank) const {
  if (rank < 0 || rank >= world_size_) {
    throw ConfigError("rank " + std::to_string(rank) + " is outside a world of " +
                      std::to_string(world_size_));
  }
  RankCoordinates c;
  c.sp = rank % shape_.sp;
  c.dp_shard = (rank / shape_.sp) % shape_.dp_shard;
  c.dp_replicate = rank / (shape_.sp * shape_.dp_shard);
  const int f = c.dp_shard * shape_.sp + c.sp;
  c.ep = f % shape_.ep;
  c.expert_fsdp = f / shape_.ep;
  return c;
}

std::vector<int> ParallelState::GroupRanks(GroupKind kind, int rank) const {
  const RankCoordinates c = Coordinates(rank);
  const MeshShape& m = shape_;
  std::vector<int> ranks;
  switch (kind) {
    case GroupKind::kDpReplicate:
      for (int r = 0; r < m.dp_replicate; ++r) ranks.push_back(RankOf(r, c.dp_shard, c.sp));
      break;
    case GroupKind::kDpShard:
      for (int s = 0; s < m.dp_shard; ++s) ranks.push_back(RankOf(c.dp_replicate, s, c.sp));
      break;
    case GroupKind::kSp:
      for (int p = 0; p < m.sp; ++p) ranks.push_back(RankOf(c.dp_replicate, c.dp_shard, p));
      break;
    case GroupKind::kFsdp:
      for (int s = 0; s < m.dp_shard; ++s)
        for (int p = 0; p < m.sp; ++p) ranks.push_back(RankOf(c.dp_replicate, s, p));
      break;
    case GroupKind::kDp:
      for (int r = 0; r < m.dp_replicate; ++r)
        for (int s = 0; s < m.dp_shard; ++s) ranks.push_back(RankOf(r, s, c.sp));
      break;
    case GroupKind::kEp:
    case GroupKind::kExpertFsdp: {
      // f = s*sp + p indexes the fsdp group; its world rank is base + f.
      const int base = RankOf(c.dp_replicate, 0, 0);
      const int f = rank - base;
      if (kind == GroupKind::kEp) {
        const int block = f / m.ep;
        for (int e = 0; e < m.ep; ++e) ranks.push_back(base + block * m.ep + e);
      } else {
        for (int b = 0; b < fsdp_size() / m.ep; ++b) ranks.push_back(base + b * m.ep + f % m.ep);
      }
      break;
    }
  }
  return ranks;
}

std::string ParallelState::Describe() const {
  std::ostringstream os;
  os << "world " << world_size_ << " = dp_replicate " << shape_.dp_replicate << " x dp_shard "
     << shape_.dp_shard << " x sp " << shape_.sp << "; ep " << shape_.ep << " (expert_fsdp "
     << fsdp_size() / shape_.ep << ")\n";
  for (int rank = 0; rank < world_size_; ++rank) {
    const RankCoordinates c = Coordinates(rank);
    os << "rank " << rank << ": dp_replicate=" << c.dp_replicate << " dp_shard=" << c.dp_shard
       << " sp=" << c.sp << " ep=" << c.ep << " expert_fsdp=" << c.expert_fsdp << "\n";
    for (GroupKind kind : kAllGroupKinds) {
      os << "  " << GroupKindName(kind) << ": [";
      const auto ranks = GroupRanks(kind, rank);
      for (size_t i = 0; i < ranks.size(); ++i) os << (i ? "," : "") << ranks[i];
      os << "]\n";
    }
  }
  return os.str();
}

}  // namespace loom::parallel
