#include "errors.h"

#include <string.h>

#include <string>

namespace pidvisor {

const char* ErrnoName(int err) {
  const char* name = strerrorname_np(err);  // glibc 2.32
  return name != nullptr ? name : "EUNKNOWN";
}

Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall_name, const char* stage) {
  // "stage: syscall: reason (ENAME)", the syscall left out where it names the stage itself.
  std::string where = syscall_name;
  if (stage != nullptr && strcmp(stage, syscall_name) != 0) where = std::string(stage) + ": " + syscall_name;
  std::string message = where + ": " + strerror(err) + " (" + ErrnoName(err) + ")";
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("errno", Napi::Number::New(env, err));
  error.Set("code", Napi::String::New(env, ErrnoName(err)));
  error.Set("syscall", Napi::String::New(env, syscall_name));
  if (stage != nullptr) error.Set("stage", Napi::String::New(env, stage));
  return error;
}

}  // namespace pidvisor
