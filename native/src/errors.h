// Errors thrown to JS carry errno faithfully: `errno` (number), `code` (the errno name,
// e.g. "ENOENT"), `syscall`, and for spawn failures the `stage` in the child that failed.
#pragma once

#include <napi.h>

namespace pidvisor {

Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall_name,
                       const char* stage = nullptr);

// errno name ("ENOENT") or "E<number>" for one glibc does not know.
const char* ErrnoName(int err);

}  // namespace pidvisor
