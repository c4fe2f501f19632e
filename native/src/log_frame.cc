#include "log_frame.h"

#include <stdint.h>
#include <string.h>

namespace pidvisor {

namespace {

enum Stop : uint32_t { kUnfinished = 0, kTooLong = 1, kNoRoom = 2, kEndsFull = 3 };

// The caller's numbers, checked against the buffers they index: a wrong one must throw,
// never copy outside a buffer.
size_t Index(const Napi::Value& value, size_t limit, const char* name) {
  const double number = value.As<Napi::Number>().DoubleValue();
  if (!(number >= 0) || number > static_cast<double>(limit)) {
    throw Napi::RangeError::New(value.Env(), std::string(name) + " is out of range");
  }
  return static_cast<size_t>(number);
}

}  // namespace

Napi::Value FrameLines(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Napi::Uint8Array chunk = info[0].As<Napi::Uint8Array>();
  const Napi::Uint8Array header = info[3].As<Napi::Uint8Array>();
  Napi::Uint8Array out = info[4].As<Napi::Uint8Array>();
  Napi::Int32Array ends = info[6].As<Napi::Int32Array>();
  if (chunk.ByteLength() > INT32_MAX) throw Napi::RangeError::New(env, "chunk is too long");
  size_t from = Index(info[1], chunk.ByteLength(), "from");
  const size_t max_line = Index(info[2], SIZE_MAX / 4, "maxLineBytes");
  size_t at = Index(info[5], out.ByteLength(), "outOffset");
  size_t next_end = Index(info[7], ends.ElementLength(), "endsFrom");

  const uint8_t* const in = chunk.Data();
  const size_t in_length = chunk.ByteLength();
  const uint8_t* const head = header.Data();
  const size_t head_length = header.ByteLength();
  uint8_t* const dest = out.Data();
  const size_t dest_length = out.ByteLength();
  int32_t* const end_at = ends.Data();
  const size_t ends_length = ends.ElementLength();

  uint32_t count = 0;
  Stop stop = kUnfinished;
  while (from < in_length) {
    const void* found = memchr(in + from, '\n', in_length - from);
    if (found == nullptr) break;
    const size_t newline = static_cast<const uint8_t*>(found) - in;
    const size_t line = newline - from;
    if (line > max_line) {
      stop = kTooLong;
      break;
    }
    const size_t record = head_length + line + 1;
    if (dest_length - at < record) {
      stop = kNoRoom;
      break;
    }
    if (next_end == ends_length) {
      stop = kEndsFull;
      break;
    }
    memcpy(dest + at, head, head_length);
    memcpy(dest + at + head_length, in + from, line + 1);  // the line and its '\n'
    at += record;
    end_at[next_end++] = static_cast<int32_t>(newline);
    from = newline + 1;
    count++;
  }
  Napi::Array result = Napi::Array::New(env, 2);
  result.Set(0u, count);
  result.Set(1u, static_cast<uint32_t>(stop));
  return result;
}

}  // namespace pidvisor
