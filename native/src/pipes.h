#pragma once

#include <napi.h>

namespace pidvisor {

// makePipe(nonblockingEnd: 0 | 1 | -1) -> [readFd, writeFd], both close-on-exec. The end
// the daemon keeps is made O_NONBLOCK for the event loop; the child's end stays blocking.
Napi::Value MakePipe(const Napi::CallbackInfo& info);

}  // namespace pidvisor
