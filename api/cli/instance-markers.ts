// `pidvisor logs -f`: a line where an instance of the process starts and where one ends (with
// its code or signal), from the daemon's event stream, as journalctl and pm2 mark restarts in
// the output they follow. The output and the events are two streams: a marker is printed when
// the CLI hears of the change, so the last line of an old instance may come just after the
// marker of its end.
import type { SupervisorEvent } from '../../client/index.js';
import type { ExitRecord } from '../supervisor-api.js';
import type { CommandContext } from './command.js';

export interface MarkerFollow {
  /** Ends the event stream (the output stream ended first). */
  stop(): void;
}

/** Follows `target`'s instance changes, writing each as a marker line with `write`. */
export async function followInstanceChanges(context: CommandContext, target: string, write: (line: string) => void): Promise<MarkerFollow> {
  const info = await context.client.get(target);
  const label = info.name ?? info.id;
  let current = info.instance;
  const onEvent = (event: SupervisorEvent): void => {
    if (event.service.id !== info.id) return;
    if (event.type === 'state' && typeof event.instance === 'string' && event.instance !== current) {
      current = event.instance;
      write(`-- ${label}: instance ${event.instance} started, pid ${String(event.pid)} --`);
    } else if (event.type === 'exit') {
      const exit = event.exit as ExitRecord;
      const how = exit.signal !== null ? `signal ${exit.signal}${exit.coreDumped ? ' (core dumped)' : ''}` : `code ${exit.code}`;
      write(`-- ${label}: instance ${exit.instance ?? '?'} ended, pid ${exit.pid ?? '?'}: ${how} (${exit.reason}) --`);
    } else if (event.type === 'spawn-failed') {
      write(`-- ${label}: could not start: ${String(event.reason)} --`);
    } else if (event.type === 'removed') {
      write(`-- ${label}: removed --`);
    }
  };
  // The client's iterator resumes across a dropped connection; a failure of the event stream
  // is written as a marker, and the output goes on without them.
  const abort = new AbortController();
  void (async () => {
    for await (const event of context.client.events({ signal: abort.signal })) {
      if (event.type !== 'gap' && event.type !== 'reset') onEvent(event);
    }
  })().catch((error: unknown) => {
    if (!abort.signal.aborted) write(`-- ${label}: no more instance changes: ${(error as Error).message} --`);
  });
  return { stop: () => abort.abort() };
}
