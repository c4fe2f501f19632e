#include "handle_table.h"

namespace pidvisor {

namespace {
constexpr size_t kFirstBuckets = 64;
}  // namespace

void HandleTable::Insert(ProcessHandle* handle) {
  if (count_ >= buckets_.size()) Grow();  // at most one handle per bucket on average
  ProcessHandle*& head = buckets_[BucketOf(handle->pid_)];
  handle->bucket_next_ = head;
  head = handle;
  count_++;
}

void HandleTable::Remove(ProcessHandle* handle) {
  if (buckets_.empty()) return;
  for (ProcessHandle** link = &buckets_[BucketOf(handle->pid_)]; *link != nullptr; link = &(*link)->bucket_next_) {
    if (*link == handle) {
      *link = handle->bucket_next_;
      handle->bucket_next_ = nullptr;
      count_--;
      return;
    }
  }
}

// Never shrinks: a daemon that once held this many children may again.
void HandleTable::Grow() {
  std::vector<ProcessHandle*> grown(buckets_.empty() ? kFirstBuckets : buckets_.size() * 2, nullptr);
  const size_t mask = grown.size() - 1;
  for (ProcessHandle* head : buckets_) {
    for (ProcessHandle* h = head; h != nullptr;) {
      ProcessHandle* next = h->bucket_next_;
      ProcessHandle*& bucket = grown[static_cast<size_t>(h->pid_) & mask];
      h->bucket_next_ = bucket;
      bucket = h;
      h = next;
    }
  }
  buckets_.swap(grown);
}

}  // namespace pidvisor
