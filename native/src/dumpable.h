// A child that switches credentials under CLONE_VM runs commit_creds on the memory map it
// shares with us, which marks that map non-dumpable (the kernel sets fs.suid_dumpable's value,
// normally 0): the daemon itself would lose core dumps, and /proc/<pid>/{environ,mem,...} would
// be closed to processes without CAP_SYS_PTRACE. The flag belongs to the memory map, so to the
// whole process, while spawns run on several threads at once (each worker's JS thread,
// spawnMany's helpers): a save and restore per clone would let one thread save the 0 another's
// child just set, and restore that. So one process-wide count of credential-changing clones in
// flight: the first to start saves the flag, the last to end restores it.
//
// A saved value of 2 (SUID_DUMP_ROOT, which only the kernel sets, from fs.suid_dumpable = 2)
// cannot be restored: PR_SET_DUMPABLE takes 0 or 1 only. It is left to the children's
// commit_creds, which set that same 2 again unless fs.suid_dumpable has changed since.
#pragma once

namespace pidvisor {

class DumpableGuard {
 public:
  // Inactive (no cost) for a clone that keeps our credentials.
  explicit DumpableGuard(bool changes_credentials);
  ~DumpableGuard();
  DumpableGuard(const DumpableGuard&) = delete;
  DumpableGuard& operator=(const DumpableGuard&) = delete;

 private:
  bool active_;
};

}  // namespace pidvisor
