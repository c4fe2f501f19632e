// The bare server (bench/api/bare-server.ts) under the V8 settings the daemon runs with
// (daemon/heap.ts, applied as daemon-host.ts applies them, before the server's modules load):
// the `bare` variant runs under Node's defaults (Sparkplug and TurboFan on), the daemon
// interpreter-only with a small young generation, so `x bare` compares two different engines
// as well as two amounts of work. `x bare-daemon-v8` compares the work alone.
// Run by bench/launch/run.ts: node dist/bench/launch/bare-daemon-v8.js SOCKET_PATH
import { favourSmallHeap, interpretJavaScriptOnly, keepYoungGenerationSmall } from '../../daemon/heap.js';

keepYoungGenerationSmall();
interpretJavaScriptOnly();
favourSmallHeap();
await import('../api/bare-server.js');
