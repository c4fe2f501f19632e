#include "dumpable.h"

#include <sys/prctl.h>

#include <mutex>

namespace pidvisor {

namespace {

struct DumpableState {
  std::mutex mutex;
  int in_flight = 0;
  int saved = -1;
};

// Never destroyed: a worker thread may still spawn while the main thread runs static
// destructors at exit.
DumpableState& State() {
  static DumpableState* state = new DumpableState();
  return *state;
}

}  // namespace

DumpableGuard::DumpableGuard(bool changes_credentials) : active_(changes_credentials) {
  if (!active_) return;
  DumpableState& s = State();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (s.in_flight++ == 0) s.saved = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
}

DumpableGuard::~DumpableGuard() {
  if (!active_) return;
  DumpableState& s = State();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (--s.in_flight > 0) return;
  if ((s.saved == 0 || s.saved == 1) && prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != s.saved) {
    prctl(PR_SET_DUMPABLE, s.saved, 0, 0, 0);
  }
}

}  // namespace pidvisor
