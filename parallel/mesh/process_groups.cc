#include "parallel/mesh/process_groups.h"

#include "ops/base/error.h"

namespace loom::parallel {

comm::CommunicatorPtr& ProcessGroups::Get(GroupKind kind) {
  switch (kind) {
    case GroupKind::kDpReplicate: return dp_replicate;
    case GroupKind::kDpShard: return dp_shard;
    case GroupKind::kSp: return sp;
    case GroupKind::kFsdp: return fsdp;
    case GroupKind::kDp: return dp;
    case GroupKind::kEp: return ep;
    case GroupKind::kExpertFsdp: return expert_fsdp;
  }
  return world;
}

const comm::CommunicatorPtr& ProcessGroups::Get(GroupKind kind) const {
  return const_cast<ProcessGroups*>(this)->Get(kind);
}

ProcessGroups BuildProcessGroups(const ParallelState& state, const comm::CommunicatorPtr& world) {
  if (world->size() != state.world_size()) {
    throw ConfigError(ErrorWithFix("the mesh is for " + std::to_string(state.world_size()) +
                                       " ranks but the world has " +
                                       std::to_string(world->size()),
                                   "launch with --nproc " + std::to_string(state.world_size())));
  }
  ProcessGroups groups;
  groups.world = world;
  for (GroupKind kind : kAllGroupKinds) {
    const auto ranks = state.GroupRanks(kind, world->rank());
    groups.Get(kind) = world->Split(ranks, GroupKindName(kind));
  }
  groups.fsdp_reduce = world->Split(state.GroupRanks(GroupKind::kFsdp, world->rank()), "fsdp_reduce");
  groups.expert_fsdp_reduce =
      world->Split(state.GroupRanks(GroupKind::kExpertFsdp, world->rank()), "expert_fsdp_reduce");
  return groups;
}

}  // namespace loom::parallel
