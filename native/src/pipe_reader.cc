#include "pipe_reader.h"

#include <errno.h>
#include <unistd.h>
#include <uv.h>

#include <cstddef>

#include "errors.h"

namespace pidvisor {

namespace {

// As uv__read: a source that keeps its pipe full cannot starve the rest of the loop.
constexpr int kReadsPerWake = 32;

class PipeReader : public Napi::ObjectWrap<PipeReader> {
 public:
  explicit PipeReader(const Napi::CallbackInfo& info) : Napi::ObjectWrap<PipeReader>(info) {
    Napi::Env env = info.Env();
    if (!info[0].IsNumber() || !info[1].IsFunction()) throw Napi::TypeError::New(env, "PipeReader(fd, onRead)");
    const int fd = info[0].As<Napi::Number>().Int32Value();
    if (fd < 0) throw Napi::TypeError::New(env, "PipeReader: fd must be >= 0");
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) throw ErrnoError(env, EINVAL, "napi_get_uv_event_loop");
    poll_ = new uv_poll_t;
    // EEXIST when libuv already watches this fd (a socket on it): refused rather than two
    // handles on one fd, which libuv does not support.
    const int r = uv_poll_init(loop, poll_, fd);
    if (r != 0) {
      delete poll_;  // never initialised: uv_close must not see it
      poll_ = nullptr;
      throw ErrnoError(env, -r, "uv_poll_init");
    }
    poll_->data = this;
    fd_ = fd;
    on_read_ = Napi::Persistent(info[1].As<Napi::Function>());
    env_ = env;
    napi_add_env_cleanup_hook(env, OnTeardown, this);
  }
  ~PipeReader() override { Close(); }

  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "PipeReader",
                       {InstanceMethod<&PipeReader::SetBuffer>("setBuffer"),
                        InstanceMethod<&PipeReader::StartMethod>("start"),
                        InstanceMethod<&PipeReader::StopMethod>("stop"),
                        InstanceMethod<&PipeReader::CloseMethod>("close")});
  }

 private:
  Napi::Value SetBuffer(const Napi::CallbackInfo& info) {
    if (!info[0].IsBuffer()) throw Napi::TypeError::New(info.Env(), "setBuffer(buffer)");
    Napi::Buffer<uint8_t> buffer = info[0].As<Napi::Buffer<uint8_t>>();
    buffer_ = Napi::Persistent(buffer);
    data_ = buffer.Data();
    capacity_ = buffer.Length();
    return info.Env().Undefined();
  }

  Napi::Value StartMethod(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (poll_ == nullptr) throw ErrnoError(env, EBADF, "uv_poll_start");
    if (data_ == nullptr || capacity_ == 0) throw Napi::Error::New(env, "PipeReader: setBuffer before start");
    if (watching_) return env.Undefined();
    const int r = uv_poll_start(poll_, UV_READABLE, OnReadable);
    if (r != 0) throw ErrnoError(env, -r, "uv_poll_start");
    watching_ = true;
    // Held while watched: a reader its owner forgot still reads to EOF, as a socket would.
    Ref();
    return env.Undefined();
  }

  Napi::Value StopMethod(const Napi::CallbackInfo& info) {
    Stop();
    return info.Env().Undefined();
  }

  Napi::Value CloseMethod(const Napi::CallbackInfo& info) {
    Close();
    return info.Env().Undefined();
  }

  void Stop() {
    if (!watching_) return;
    watching_ = false;
    uv_poll_stop(poll_);  // EPOLL_CTL_DEL now, and pending events of this iteration voided
    Unref();
  }

  void Close() {
    if (poll_ == nullptr) return;
    Stop();
    napi_remove_env_cleanup_hook(env_, OnTeardown, this);
    uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* closed) { delete reinterpret_cast<uv_poll_t*>(closed); });
    poll_ = nullptr;
    // Safe right after uv_close (the poll is stopped). EINTR still closed it: no retry.
    close(fd_);
    fd_ = -1;
    buffer_.Reset();
    data_ = nullptr;
    capacity_ = 0;
  }

  static void OnTeardown(void* self) { static_cast<PipeReader*>(self)->Close(); }

  static void OnReadable(uv_poll_t* poll, int status, int /*events*/) {
    auto* self = static_cast<PipeReader*>(poll->data);
    Napi::Env env = self->Env();
    Napi::HandleScope scope(env);
    // The callback may drop the last reference to this reader (stop() then GC): keep it.
    Napi::Object keep = self->Value();
    try {
      if (status < 0) {
        self->Stop();
        self->Deliver(-1, ErrnoError(env, -status, "uv_poll").Value());
        return;
      }
      for (int i = 0; i < kReadsPerWake && self->watching_; i++) {
        const size_t capacity = self->capacity_;
        ssize_t n;
        do n = read(self->fd_, self->data_, capacity);
        while (n < 0 && errno == EINTR);
        if (n < 0) {
          if (errno == EAGAIN) return;  // woken for nothing (libuv allows it), or drained
          const int err = errno;
          self->Stop();
          self->Deliver(-1, ErrnoError(env, err, "read").Value());
          return;
        }
        if (n == 0) self->Stop();  // EOF: an empty pipe stays readable; never watch it again
        self->Deliver(n, env.Undefined());
        if (n == 0 || static_cast<size_t>(n) < capacity) return;  // drained
      }
    } catch (const Napi::Error& error) {
      // No JS frame is below a uv callback: hand it to the process as any event-loop
      // callback's uncaught exception (a C++ exception escaping here would abort).
      napi_fatal_exception(env, error.Value());
    }
    (void)keep;
  }

  void Deliver(ssize_t n, Napi::Value error) {
    Napi::Env env = Env();
    on_read_.MakeCallback(Value(), {Napi::Number::New(env, static_cast<double>(n)), error});
  }

  Napi::FunctionReference on_read_;
  Napi::Reference<Napi::Buffer<uint8_t>> buffer_;
  uint8_t* data_ = nullptr;
  size_t capacity_ = 0;
  uv_poll_t* poll_ = nullptr;
  int fd_ = -1;
  bool watching_ = false;
  napi_env env_ = nullptr;
};

}  // namespace

Napi::Function DefinePipeReader(Napi::Env env) { return PipeReader::Define(env); }

}  // namespace pidvisor
