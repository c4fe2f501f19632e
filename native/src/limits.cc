// The daemon's own resource limits: Node has no setrlimit, and a supervisor of thousands of
// services needs thousands of pidfds and pipes (the soft RLIMIT_NOFILE is often 1024).
#include "limits.h"

#include <errno.h>
#include <sys/resource.h>

#include "errors.h"

namespace pidvisor {

namespace {

double FromRlim(rlim_t value) { return value == RLIM_INFINITY ? -1 : static_cast<double>(value); }

rlim_t ToRlim(const Napi::Value& value) {
  const double v = value.As<Napi::Number>().DoubleValue();
  return v < 0 ? RLIM_INFINITY : static_cast<rlim_t>(v);
}

}  // namespace

Napi::Value GetResourceLimit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct rlimit limit = {};
  if (getrlimit(info[0].As<Napi::Number>().Int32Value(), &limit) < 0) {
    throw ErrnoError(env, errno, "getrlimit");
  }
  Napi::Array result = Napi::Array::New(env, 2);
  result.Set(0u, FromRlim(limit.rlim_cur));
  result.Set(1u, FromRlim(limit.rlim_max));
  return result;
}

Napi::Value SetResourceLimit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct rlimit limit = {ToRlim(info[1]), ToRlim(info[2])};
  if (setrlimit(info[0].As<Napi::Number>().Int32Value(), &limit) < 0) {
    throw ErrnoError(env, errno, "setrlimit");
  }
  return env.Undefined();
}

}  // namespace pidvisor
