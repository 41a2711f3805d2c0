#include "sdk/data/batch.h"

namespace loom::data {

const char* LossGroupName(int group) {
  static const char* kNames[kLossGroups] = {"text", "image", "audio", "image+audio", "image_out"};
  return group >= 0 && group < kLossGroups ? kNames[group] : "unknown";
}

const char* BadSampleName(int reason) {
  static const char* kNames[kBadSampleReasons] = {"missing file", "corrupt image", "corrupt audio", "changed file",
                                                  "too long"};
  return reason >= 0 && reason < kBadSampleReasons ? kNames[reason] : "unknown";
}

int64_t ReadStats::bad_total() const {
  int64_t n = 0;
  for (auto v : bad) n += v;
  return n;
}

}  // namespace loom::data
