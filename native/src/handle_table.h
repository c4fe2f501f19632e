// Every ProcessHandle of a Node environment, by pid: a chained hash table whose links live in
// the handles themselves. It replaced a list of all handles (two pointers in each) plus an
// unordered_multimap of the unreaped ones (a 32-byte node and a bucket each): with 10,000
// children, one pointer per handle and one per bucket is about 400 KB less.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <vector>

#include "process_handle.h"

namespace pidvisor {

class HandleTable {
 public:
  void Insert(ProcessHandle* handle);
  void Remove(ProcessHandle* handle);

  // Handles of one pid (several may name it: spawned, and opened again by pid): fn(handle)
  // for each until it returns true. Returns whether one did.
  template <typename Fn>
  bool AnyWithPid(pid_t pid, Fn fn) const;

  // fn(handle) for every handle; fn must not insert or remove any.
  template <typename Fn>
  void ForEach(Fn fn) const;

 private:
  size_t BucketOf(pid_t pid) const { return static_cast<size_t>(pid) & (buckets_.size() - 1); }
  void Grow();

  std::vector<ProcessHandle*> buckets_;  // a power of two in size, or empty
  size_t count_ = 0;
};

template <typename Fn>
bool HandleTable::AnyWithPid(pid_t pid, Fn fn) const {
  if (buckets_.empty()) return false;
  for (ProcessHandle* h = buckets_[BucketOf(pid)]; h != nullptr; h = h->bucket_next_) {
    if (h->pid_ == pid && fn(h)) return true;
  }
  return false;
}

template <typename Fn>
void HandleTable::ForEach(Fn fn) const {
  for (ProcessHandle* head : buckets_) {
    for (ProcessHandle* h = head; h != nullptr; h = h->bucket_next_) fn(h);
  }
}

}  // namespace pidvisor
