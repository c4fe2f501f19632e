#pragma once

#include <napi.h>

namespace pidvisor {

// frameLines(chunk, from, maxLineBytes, header, out, outOffset, ends, endsFrom) -> [count, stop]
//
// The hot loop of log capture, for a child writing at full speed: copies each complete line
// of chunk[from..] that is at most maxLineBytes long (without its '\n') into `out` at
// outOffset as one record, header + line + '\n', and stores the index of each line's '\n'
// in ends[endsFrom + i]. Stops before the first line it must leave to the caller:
//   stop 0: no '\n' in the rest of the chunk (an unfinished line), or the chunk is done;
//   stop 1: the next line is longer than maxLineBytes (cut into partial records by the caller);
//   stop 2: `out` has no room for the next record;
//   stop 3: `ends` is full.
// Nothing here decides what a record is: the caller built the header; this only moves bytes
// (memchr + memcpy), about ten times faster than the same loop in JS over 100-byte lines.
Napi::Value FrameLines(const Napi::CallbackInfo& info);

}  // namespace pidvisor
