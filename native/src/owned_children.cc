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

// Sorted by pid, as PidList; the inode tells records of one pid apart.
struct Watcher {
  pid_t pid;
  uint64_t inode;
  bool operator<(const Watcher& other) const { return pid < other.pid; }
};

struct Registry {
  std::mutex mutex;
  PidList spawned;
  std::vector<Watcher> watchers;
  // Clones in flight: as many as threads cloning at once (a few).
  std::vector<OwnedChildren::Claim*> claims;
};

// Made once and never destroyed: a worker thread may still spawn or reap while the main
// thread runs static destructors at exit.
Registry& TheRegistry() {
  static Registry* registry = new Registry();
  return *registry;
}

}  // namespace

void OwnedChildren::RemoveSpawned(pid_t pid) {
  Registry& r = TheRegistry();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.spawned.Remove(pid);
}

void OwnedChildren::AddWatcher(pid_t pid, uint64_t inode) {
  Registry& r = TheRegistry();
  std::lock_guard<std::mutex> lock(r.mutex);
  const Watcher watcher = {pid, inode};
  r.watchers.insert(std::upper_bound(r.watchers.begin(), r.watchers.end(), watcher), watcher);
}

void OwnedChildren::RemoveWatcher(pid_t pid, uint64_t inode) {
  Registry& r = TheRegistry();
  std::lock_guard<std::mutex> lock(r.mutex);
  const auto range = std::equal_range(r.watchers.begin(), r.watchers.end(), Watcher{pid, inode});
  const auto it = std::find_if(range.first, range.second, [inode](const Watcher& w) { return w.inode == inode; });
  if (it != range.second) r.watchers.erase(it);
}

bool OwnedChildren::IsOwned(pid_t pid, uint64_t inode) {
  Registry& r = TheRegistry();
  std::lock_guard<std::mutex> lock(r.mutex);
  for (const Claim* claim : r.claims) {
    if (claim->pid_.load() == pid) return true;
  }
  if (r.spawned.Contains(pid)) return true;
  const auto range = std::equal_range(r.watchers.begin(), r.watchers.end(), Watcher{pid, inode});
  return std::any_of(range.first, range.second,
                     [inode](const Watcher& w) { return w.inode == 0 || inode == 0 || w.inode == inode; });
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
