// What each supervisor in the comparison implements: start N `sleep 3600`, hold them, stop
// them all, through the API a user of that supervisor would script against.
export interface PeerRound {
  /** From the first call until the supervisor said all N started. */
  startMs: number;
  /** From the first stop call until the calls returned and every pid was gone from /proc. */
  stopMs: number;
  /** Of those, the part after the calls returned (the processes were still dying). */
  stopTailMs: number;
  /** Processes running `sleep` just after the start calls returned (should be N). */
  running: number;
  /** Pids still present after the stop (should be 0). */
  leftAfterStop: number;
  /** CPU the supervisor's own process used during the start and during the stop (its main process only). */
  startCpuMs: number;
  stopCpuMs: number;
  /** Resident memory of the supervisor's own process with N programs, after the settle pause. */
  rssBytes: number;
  /** pidvisor only: resident memory of pidvisor-keeper at the same moment (not in rssBytes). */
  keeperRssBytes?: number;
  /** Refusals retried, and anything else worth keeping. */
  notes: Record<string, unknown>;
}

export interface PeerRunner {
  name: string;
  /** How start and stop are done, in words, for the report. */
  how: { start: string; stop: string; rss: string };
  setup(): Promise<void>;
  round(programs: number, settleMs: number): Promise<PeerRound>;
  teardown(): Promise<void>;
}
