#include "owned_children.h"

#include <algorithm>
#include <mutex>
#include <vector>

namespace pidvisor {

namespace {

// Sorted, one entry per owner. 4 bytes a child: a node-based set cost about 40 bytes each,
// 0.4 MB more with 10,000 children. New pids mostly come last (the kernel hands them out in
// increasing order), so an insertion moves little; a removal moves the tail, a few
// microseconds with 10,000 children.
class PidList {
 public:
  void Add(pid_t pid) { pids_.insert(std::upper_bound(pids_.begin(), pids_.end(), pid), pid); }
  void Remove(pid_t pid) {
    const auto it = std::lower_bound(pids_.begin(), pids_.end(), pid);
    if (it != pids_.end() && *it == pid) pids_.erase(it);
  }
  bool Contains(pid_t pid) const { return std::binary_search(pids_.begin(), pids_.end(), pid); }

 private:
  std::vector<pid_t> pids_;
};

struct Registry {
  std::mutex mutex;
  PidList spawned;
  PidList watched;
  // Clones in flight: as many as threads cloning at once (a few).
  std::vector<OwnedChildren::Claim*> claims;

  PidList& ListOf(OwnedChildren::Owner owner) {
    return owner == OwnedChildren::Owner::kSpawned ? spawned : watched;
  }
};

// Made once and never destroyed: a worker thread may still spawn or reap while the main
// thread runs static destructors at exit.
Registry& TheRegistry() {
  static Registry* registry = new Registry();
  return *registry;
}

}  // namespace

void OwnedChildren::Add(pid_t pid, Owner owner) {
  Registry& r = TheRegistry();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.ListOf(owner).Add(pid);
}

void OwnedChildren::Remove(pid_t pid, Owner owner) {
  Registry& r = TheRegistry();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.ListOf(owner).Remove(pid);
}

bool OwnedChildren::IsOwned(pid_t pid) {
  Registry& r = TheRegistry();
  std::lock_guard<std::mutex> lock(r.mutex);
  for (const Claim* claim : r.claims) {
    if (claim->pid_.load() == pid) return true;
  }
  return r.spawned.Contains(pid) || r.watched.Contains(pid);
}

bool OwnedChildren::IsSpawned(pid_t pid) {
  Registry& r = TheRegistry();
  std::lock_guard<std::mutex> lock(r.mutex);
  return r.spawned.Contains(pid);
}

OwnedChildren::Claim::Claim() {
  Registry& r = TheRegistry();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.claims.push_back(this);
  registered_ = true;
}

OwnedChildren::Claim::~Claim() {
  if (!registered_) return;
  Registry& r = TheRegistry();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.claims.erase(std::find(r.claims.begin(), r.claims.end(), this));
}

void OwnedChildren::Claim::Record(pid_t pid) {
  Registry& r = TheRegistry();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.spawned.Add(pid);
  r.claims.erase(std::find(r.claims.begin(), r.claims.end(), this));
  registered_ = false;
}

}  // namespace pidvisor
