// Every ProcessHandle of a Node environment, so environment teardown can shut each down: a
// chained hash table by pid whose links live in the handles themselves (a removal walks one
// short bucket, with one pointer per handle). It replaced a list of all handles (two pointers in each) plus an
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
void HandleTable::ForEach(Fn fn) const {
  for (ProcessHandle* head : buckets_) {
    for (ProcessHandle* h = head; h != nullptr; h = h->bucket_next_) fn(h);
  }
}

}  // namespace pidvisor
