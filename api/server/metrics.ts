// Counters of the API and of the supervisor, rendered in the Prometheus text format
// (version 0.0.4). Process gauges are read from the supervisor at scrape time; spawn
// failures and exits are counted from its event log, so they include services since removed.
import type { SupervisorEvent } from '../../daemon/events.js';
import { STATES } from '../../daemon/state-machine.js';
import type { ServiceInfo } from '../../daemon/service.js';
import type { ResourceUsageNow as CurrentUsage } from '../../daemon/usage.js';

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export interface Gauges {
  processes: ServiceInfo[];
  lastEventSeq: number;
  liveStreams: number;
  /** Unread bytes held for open streams. */
  streamBufferedBytes: number;
  streamsDropped: Readonly<Record<string, number>>;
  launchesInFlight: number;
}

export class ApiMetrics {
  readonly #requests = new Map<string, number>();
  /** Label text of each method, route and status seen, by `${method} ${route} ${status}`. */
  readonly #requestLabels = new Map<string, string>();
  readonly #rejectedConnections = new Map<string, number>();
  readonly #exits = new Map<string, number>();
  #spawnFailures = 0;

  countRequest(method: string, route: string, status: number): void {
    // Runs for every request: escaping the labels each time cost more than the rest of the
    // accounting. The key is unambiguous: a method has no space and a status only digits.
    const key = `${method} ${route} ${status}`;
    let labelText = this.#requestLabels.get(key);
    if (labelText === undefined) {
      labelText = labels({ method, route, status: String(status) });
      this.#requestLabels.set(key, labelText);
    }
    increment(this.#requests, labelText);
  }

  countRejectedConnection(reason: string): void {
    increment(this.#rejectedConnections, labels({ reason }));
  }

  countEvent(event: SupervisorEvent): void {
    if (event.type === 'spawn-failed') this.#spawnFailures++;
    if (event.type === 'exit') {
      const reason = (event.exit as { reason?: unknown } | undefined)?.reason;
      increment(this.#exits, labels({ reason: typeof reason === 'string' ? reason : 'unknown' }));
    }
  }

  render(gauges: Gauges): string {
    const out: string[] = [];
    const family = (name: string, type: 'counter' | 'gauge', help: string, samples: Array<[string, number]>): void => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labelText, value] of samples) out.push(`${name}${labelText} ${value}`);
    };
    const byState = new Map<string, number>(STATES.map((state) => [state, 0]));
    for (const process of gauges.processes) byState.set(process.state, (byState.get(process.state) ?? 0) + 1);
    family('pidvisor_processes', 'gauge', 'Supervised processes by state.', [...byState].map(([state, n]) => [labels({ state }), n]));
    const perProcess = gauges.processes.map((p) => labels({ id: p.id, name: p.name ?? '' }));
    family('pidvisor_process_restarts_total', 'counter', 'Restarts of each supervised process.', gauges.processes.map((p, i) => [perProcess[i]!, p.restarts]));
    family('pidvisor_process_up', 'gauge', '1 when the process has a running instance.', gauges.processes.map((p, i) => [perProcess[i]!, p.pid === null ? 0 : 1]));
    const sampled = gauges.processes.flatMap((p, i) => (p.usage === null ? [] : [{ labelText: perProcess[i]!, usage: p.usage }]));
    const usageFamily = (name: string, type: 'counter' | 'gauge', help: string, value: (usage: CurrentUsage) => number | null): void =>
      family(name, type, help, sampled.flatMap(({ labelText, usage }) => {
        const v = value(usage);
        return v === null ? [] : [[labelText, v] as [string, number]];
      }));
    usageFamily('pidvisor_process_cpu_seconds_total', 'counter', 'CPU time of the running instance (its cgroup, group or process tree).', (u) => u.cpuUsec / 1e6);
    usageFamily('pidvisor_process_memory_bytes', 'gauge', "Memory of the running instance: its cgroup's memory.current, else the summed RSS of its processes.", (u) => u.memoryBytes);
    usageFamily('pidvisor_process_tasks', 'gauge', 'Threads of the running instance.', (u) => u.tasks);
    usageFamily('pidvisor_process_open_fds', 'gauge', 'Open fds of the running instance.', (u) => u.fds);
    usageFamily('pidvisor_process_uptime_seconds', 'gauge', 'Time since the running instance started.', (u) => u.uptimeMs / 1000);
    const capturing = gauges.processes.flatMap((p, i) => (p.logs === null ? [] : [{ labelText: perProcess[i]!, logs: p.logs }]));
    family('pidvisor_process_log_dropped_bytes_total', 'counter', 'Bytes of captured output lost because the disk refused them.', capturing.map(({ labelText, logs }) => [labelText, logs.droppedBytes]));
    family('pidvisor_process_log_write_failures_total', 'counter', 'Runs of failed log writes (full, read-only or failing disk).', capturing.map(({ labelText, logs }) => [labelText, logs.writeFailures]));
    const probes = gauges.processes.flatMap((p, i) =>
      (['readiness', 'liveness'] as const).flatMap((role) => {
        const probe = p.probes[role];
        return probe === null ? [] : [{ labelText: perProcess[i]!.slice(0, -1), role, probe }];
      }),
    );
    // Per instance: the counts start again with each instance (a counter reset to Prometheus).
    family(
      'pidvisor_probe_checks_total',
      'counter',
      'Probe checks of the current instance by probe (readiness, liveness) and result.',
      probes.flatMap(({ labelText, role, probe }) => [
        [`${labelText},probe="${role}",result="success"}`, probe.successes] as [string, number],
        [`${labelText},probe="${role}",result="failure"}`, probe.failures] as [string, number],
      ]),
    );
    family('pidvisor_probe_duration_seconds_sum', 'counter', 'Total time spent in probe checks of the current instance.', probes.map(({ labelText, role, probe }) => [`${labelText},probe="${role}"}`, probe.totalDurationMs / 1000]));
    family('pidvisor_probe_duration_seconds_count', 'counter', 'Probe checks of the current instance (with the sum: the mean duration).', probes.map(({ labelText, role, probe }) => [`${labelText},probe="${role}"}`, probe.successes + probe.failures]));
    family('pidvisor_process_healthy', 'gauge', '1 healthy, 0 unhealthy, per process with a liveness verdict.', gauges.processes.flatMap((p, i) => (p.health === 'unknown' ? [] : [[perProcess[i]!, p.health === 'healthy' ? 1 : 0] as [string, number]])));
    const notifying = gauges.processes.flatMap((p, i) => (p.notify === null ? [] : [{ labelText: perProcess[i]!.slice(0, -1), counts: p.notify.datagrams }]));
    family(
      'pidvisor_notify_datagrams_total',
      'counter',
      'sd_notify datagrams by outcome: accepted, or dropped as foreign (a sender outside the instance), malformed, oversize or rate-limited.',
      notifying.flatMap(({ labelText, counts }) =>
        (['accepted', 'foreign', 'malformed', 'oversize', 'rateLimited'] as const).map((result) => [`${labelText},result="${result}"}`, counts[result]] as [string, number]),
      ),
    );
    family('pidvisor_spawn_failures_total', 'counter', 'Spawns that failed (exec errors, missing users, ...).', [['', this.#spawnFailures]]);
    family('pidvisor_exits_total', 'counter', 'Ended instances by reason.', [...this.#exits]);
    family('pidvisor_events_last_seq', 'gauge', 'Sequence number of the newest event.', [['', gauges.lastEventSeq]]);
    family('pidvisor_api_requests_total', 'counter', 'API requests by method, route and status.', [...this.#requests]);
    family('pidvisor_api_connections_rejected_total', 'counter', 'Connections refused before any request was read.', [...this.#rejectedConnections]);
    family('pidvisor_api_streams', 'gauge', 'Open event and log streams (until their connection closes).', [['', gauges.liveStreams]]);
    family('pidvisor_api_stream_buffered_bytes', 'gauge', 'Bytes sent to open streams and not yet taken by their clients.', [['', gauges.streamBufferedBytes]]);
    family('pidvisor_api_streams_dropped_total', 'counter', 'Streams whose client fell behind (reason behind) or took nothing for the write timeout.', Object.entries(gauges.streamsDropped).map(([reason, n]) => [labels({ reason }), n]));
    family('pidvisor_api_launches_in_flight', 'gauge', 'Launches being handled.', [['', gauges.launchesInFlight]]);
    return `${out.join('\n')}\n`;
  }
}

function increment(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

function labels(values: Record<string, string>): string {
  const pairs = Object.entries(values).map(([key, value]) => `${key}="${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`);
  return `{${pairs.join(',')}}`;
}
