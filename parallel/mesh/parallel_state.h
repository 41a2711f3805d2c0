// ParallelState: the device mesh dp_replicate x dp_shard x sp over the world,
// plus the expert-parallel carve-out (ARCHITECTURE.md §3). Pure data: it
// computes coordinates and group memberships and validates layouts; it does
// no communication (ProcessGroups turns memberships into communicators).
//
// Rank layout (sp innermost, so SP peers are neighbours):
//   rank = (r * dp_shard + s) * sp + p     r: dp_replicate, s: dp_shard, p: sp
// Derived groups, each listed as world ranks in ascending order:
//   dp_replicate  vary r           (HSDP replicas)
//   dp_shard      vary s
//   sp            vary p
//   fsdp          vary s, p        (parameters shard over dp_shard x sp)
//   dp            vary r, s        (data is split over dp_replicate x dp_shard)
//   ep            within the fsdp group of F = dp_shard*sp ranks with local
//                 index f = s*sp + p: the `ep` consecutive ranks with equal f / ep
//   expert_fsdp   within the fsdp group: the F/ep ranks with equal f % ep
#pragma once

#include <array>
#include <string>
#include <vector>

namespace loom::parallel {

enum class MeshAxis { kDpReplicate, kDpShard, kSp, kEp };

enum class GroupKind { kDpReplicate, kDpShard, kSp, kFsdp, kDp, kEp, kExpertFsdp };
constexpr std::array<GroupKind, 7> kAllGroupKinds = {
    GroupKind::kDpReplicate, GroupKind::kDpShard, GroupKind::kSp,        GroupKind::kFsdp,
    GroupKind::kDp,          GroupKind::kEp,      GroupKind::kExpertFsdp};
const char* GroupKindName(GroupKind kind);

// Requested sizes. dp_shard = -1 means "whatever makes the product the world".
struct MeshShape {
  int dp_replicate = 1;
  int dp_shard = -1;
  int sp = 1;
  int ep = 1;
};

struct RankCoordinates {
  int dp_replicate = 0;
  int dp_shard = 0;
  int sp = 0;
  int ep = 0;           // rank within the ep group
  int expert_fsdp = 0;  // rank within the expert_fsdp group
};

class ParallelState {
 public:
  // Validates `shape` against `world_size`; throws loom::ConfigError whose
  // message names the numbers and the fix. Resolves dp_shard = -1.
  static ParallelState Create(int world_size, MeshShape shape);

  // The error Create would throw, or "" when the layout is valid.
  static std::string Validate(int world_size, const MeshShape& shape);

  int world_size() const { return world_size_; }
  const MeshShape& shape() const { return shape_; }  // dp_shard resolved
  int fsdp_size() const { return shape_.dp_shard * shape_.sp; }
  int dp_size() const { return shape_.dp_replicate * shape_.dp_shard; }

  RankCoordinates Coordinates(int rank) const;
  int RankOf(int dp_replicate, int dp_shard, int sp) const;

  // World ranks of the group of `kind` that contains `rank`, ascending.
  std::vector<int> GroupRanks(GroupKind kind, int rank) const;

  // Human-readable description of every rank's coordinates and groups.
  std::string Describe() const;

 private:
  ParallelState(int world_size, MeshShape shape) : world_size_(world_size), shape_(shape) {}

  int world_size_;
  MeshShape shape_;
};

}  // namespace loom::parallel
