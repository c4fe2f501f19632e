#include "owned_children.h"

#include <algorithm>
#include <vector>

namespace pidvisor {

namespace {

struct Registry {
  std::shared_mutex gate;
  std::mutex records_mutex;
  // Sorted, one entry per owner. 4 bytes a child: a node-based set cost about 40 bytes each,
  // 0.4 MB more with 10,000 children. New pids mostly come last (the kernel hands them out
  // in increasing order), so an insertion moves little; a removal moves the tail, a few
  // microseconds with 10,000 children.
  std::vector<pid_t> records;
};

// Made once and never destroyed: a worker thread may still spawn or reap while the main
// thread runs static destructors at exit.
Registry& TheRegistry() {
  static Registry* registry = new Registry();
  return *registry;
}

}  // namespace

std::shared_mutex& OwnedChildren::Gate() { return TheRegistry().gate; }

void OwnedChildren::Add(pid_t pid) {
  Registry& r = TheRegistry();
  std::lock_guard<std::mutex> lock(r.records_mutex);
  r.records.insert(std::upper_bound(r.records.begin(), r.records.end(), pid), pid);
}

void OwnedChildren::Remove(pid_t pid) {
  Registry& r = TheRegistry();
  std::lock_guard<std::mutex> lock(r.records_mutex);
  const auto it = std::lower_bound(r.records.begin(), r.records.end(), pid);
  if (it != r.records.end() && *it == pid) r.records.erase(it);
}

bool OwnedChildren::Contains(pid_t pid) {
  Registry& r = TheRegistry();
  std::lock_guard<std::mutex> lock(r.records_mutex);
  return std::binary_search(r.records.begin(), r.records.end(), pid);
}

}  // namespace pidvisor
