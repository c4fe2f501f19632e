// SIGUSR1 and SIGUSR2 belong to pidvisor from its first line of JavaScript.
//
// Node 20 opens its inspector (127.0.0.1:9229, no authentication: anyone on the machine can
// then run code as pidvisor's user, root for a daemon or an init) when SIGUSR1 arrives and no
// JS listener for it exists; `--disable-sigusr1` only arrives in Node 22.14/23.7. SIGUSR2's
// default action would end the process. A listener installed here, before anything heavy is
// imported, takes both from Node; the daemon and init add the listeners that give them their
// meaning (a status line in the daemon's log, forwarding in init). These stay installed for
// the life of the process, so removing those listeners at shutdown never reopens the door.
//
// What remains: the ~60-120 ms of Node's own bootstrap, before any JavaScript runs. Blocking
// the signals before exec does not close it (Node clears the signal mask it inherits before
// any JS runs, measured on Node 20.20); pidvisor-keeper closes it by holding every signal meant
// for the daemon until the daemon says READY (daemon/keeper.ts).

export const INSPECTOR_SIGNALS = ['SIGUSR1', 'SIGUSR2'] as const;

// A signal that arrives before the daemon or init has given it a meaning is dropped: nothing
// could act on it yet.
const ignoreUntilHandled = (): void => {};

/** Installs the listeners that keep Node's inspector closed. Idempotent. */
export function keepInspectorClosed(): void {
  for (const name of INSPECTOR_SIGNALS) {
    if (!process.listeners(name).includes(ignoreUntilHandled)) process.on(name, ignoreUntilHandled);
  }
}

