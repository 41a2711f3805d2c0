// ProcessGroups: one communicator per derived group of a ParallelState,
// built once and passed to executors as a value (never a global).
#pragma once

#include "parallel/comm/communicator.h"
#include "parallel/mesh/parallel_state.h"

namespace loom::parallel {

struct ProcessGroups {
  comm::CommunicatorPtr world;
  comm::CommunicatorPtr dp_replicate;
  comm::CommunicatorPtr dp_shard;
  comm::CommunicatorPtr sp;
  comm::CommunicatorPtr fsdp;
  comm::CommunicatorPtr dp;
  comm::CommunicatorPtr ep;
  comm::CommunicatorPtr expert_fsdp;
  // The same ranks as fsdp / expert_fsdp, for FSDP's reduce-scatters only,
  // so they order independently of the all-gathers (parallel/fsdp/fsdp.h).
  comm::CommunicatorPtr fsdp_reduce;
  comm::CommunicatorPtr expert_fsdp_reduce;

  const comm::CommunicatorPtr& Get(GroupKind kind) const;
  comm::CommunicatorPtr& Get(GroupKind kind);
};

// Collective over `world`: every rank calls it with the same state. Creates
// the groups this rank belongs to, in kAllGroupKinds order.
ProcessGroups BuildProcessGroups(const ParallelState& state, const comm::CommunicatorPtr& world);

}  // namespace loom::parallel
