// The heap of a process that stays up (the daemon, init). V8 doubles its young generation
// (two semi-spaces, 16 MiB each at most on 64-bit Node 20) whenever a burst of allocations
// survives a scavenge, and never shrinks it again: after loading the API and serving one
// burst of 200 launches, 32 MiB of the daemon's resident memory was an empty young
// generation. A supervisor allocates little that lives long per request; the smallest young
// generation costs a few more scavenges of a small space.
//
// `--max-semi-space-size` would say the same, but only on node's command line, and users
// start the daemon as `node dist/bin/pidvisor.js daemon` or through `npm start`. The growth
// factor is read each time V8 considers growing, so it still works once the VM runs: with 1,
// the semi-spaces keep their initial size (1 MiB). (0 is not a valid factor: V8 crashes.)
import v8 from 'node:v8';

export function keepYoungGenerationSmall(): void {
  v8.setFlagsFromString('--semi-space-growth-factor=1');
}
