// Module entry: registers the primitives and ties every native resource to the lifetime of
// the Node environment (main thread or worker) that created it.
#include <napi.h>

#include "env_state.h"
#include "file_lock.h"
#include "keeper_channel.h"
#include "limits.h"
#include "loop_watch.h"
#include "log_frame.h"
#include "notify_socket.h"
#include "peer.h"
#include "pidfs_handle.h"
#include "orphans.h"
#include "pipe_reader.h"
#include "pipes.h"
#include "probe.h"
#include "process_handle.h"
#include "spawn_async.h"
#include "spawn_many.h"

namespace pidvisor {

namespace {

// Runs when the environment shuts down, before the loop is closed: stop every poll handle
// and close every pidfd, so a worker that exits leaks nothing into the process.
void CloseAllHandles(void* arg) {
  EnvState* state = static_cast<EnvState*>(arg);
  // Shutdown leaves each handle in the table (only its destructor removes it).
  state->handles.ForEach([](ProcessHandle* h) { h->Shutdown(); });
  state->exit_poller.Close();
  CloseAsyncSpawns(state);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  EnvState* state = new EnvState(env);
  env.SetInstanceData<EnvState>(state);
  napi_add_env_cleanup_hook(env, CloseAllHandles, state);

  exports.Set("spawnMany", Napi::Function::New<SpawnMany>(env, "spawnMany"));
  exports.Set("spawnAsync", Napi::Function::New<SpawnAsync>(env, "spawnAsync"));
  exports.Set("makePipe", Napi::Function::New<MakePipe>(env, "makePipe"));
  exports.Set("closeFd", Napi::Function::New<CloseFd>(env, "closeFd"));
  exports.Set("dupFd", Napi::Function::New<DupFd>(env, "dupFd"));
  exports.Set("stopWatchingFd", Napi::Function::New<StopWatchingFd>(env, "stopWatchingFd"));
  exports.Set("setPipeSize", Napi::Function::New<SetPipeSize>(env, "setPipeSize"));
  exports.Set("frameLines", Napi::Function::New<FrameLines>(env, "frameLines"));
  exports.Set("peerCredentials", Napi::Function::New<PeerCredentials>(env, "peerCredentials"));
  exports.Set("pidfsHandle", Napi::Function::New<PidfsHandle>(env, "pidfsHandle"));
  exports.Set("openPidfsHandle", Napi::Function::New<OpenPidfsHandle>(env, "openPidfsHandle"));
  exports.Set("reapOrphans", Napi::Function::New<ReapOrphans>(env, "reapOrphans"));
  exports.Set("setChildSubreaper", Napi::Function::New<SetChildSubreaper>(env, "setChildSubreaper"));
  exports.Set("setParentDeathSignal", Napi::Function::New<SetParentDeathSignal>(env, "setParentDeathSignal"));
  exports.Set("ignoreSignal", Napi::Function::New<IgnoreSignal>(env, "ignoreSignal"));
  exports.Set("getChildSubreaper", Napi::Function::New<GetChildSubreaper>(env, "getChildSubreaper"));
  exports.Set("getResourceLimit", Napi::Function::New<GetResourceLimit>(env, "getResourceLimit"));
  exports.Set("setResourceLimit", Napi::Function::New<SetResourceLimit>(env, "setResourceLimit"));
  exports.Set("tryLockExclusive", Napi::Function::New<TryLockExclusive>(env, "tryLockExclusive"));
  exports.Set("probeKernel", Napi::Function::New<ProbeKernel>(env, "probeKernel"));
  exports.Set("setExitHandler", Napi::Function::New<ProcessHandle::SetExitHandler>(env, "setExitHandler"));
  exports.Set("ProcessHandle", ProcessHandle::Define(env));
  exports.Set("channelSend", Napi::Function::New<ChannelSend>(env, "channelSend"));
  exports.Set("channelReceive", Napi::Function::New<ChannelReceive>(env, "channelReceive"));
  exports.Set("execKeeper", Napi::Function::New<ExecKeeper>(env, "execKeeper"));
  exports.Set("keeperProtocol", Napi::Function::New<KeeperProtocol>(env, "keeperProtocol"));
  exports.Set("ChannelWatcher", DefineChannelWatcher(env));
  exports.Set("PipeReader", DefinePipeReader(env));
  exports.Set("notifySocketBind", Napi::Function::New<NotifySocketBind>(env, "notifySocketBind"));
  exports.Set("notifyReceive", Napi::Function::New<NotifyReceive>(env, "notifyReceive"));
  return exports;
}

}  // namespace

}  // namespace pidvisor

static Napi::Object InitPidvisor(Napi::Env env, Napi::Object exports) {
  return pidvisor::Init(env, exports);
}

NODE_API_MODULE(pidvisor, InitPidvisor)
