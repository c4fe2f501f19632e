// Backoff arithmetic and the restart limit, with time and randomness injected.
import { describe, expect, it } from 'vitest';
import { DEFAULT_RESTART_POLICY, RestartTracker, wantsRestart, type RestartPolicy } from '../../daemon/restart-policy.js';

const policy: RestartPolicy = { ...DEFAULT_RESTART_POLICY, initialDelayMs: 100, maxDelayMs: 1000, multiplier: 2, jitter: 0, resetAfterMs: 5000, maxRestarts: 100, windowMs: 60_000 };
const quick = { code: 1, uptimeMs: 10, spawnFailed: false };

describe('restart policy', () => {
  it('decides by policy and success codes', () => {
    const onFailure = { ...policy, policy: 'on-failure' as const, successCodes: [0, 3] };
    expect(wantsRestart(onFailure, { ...quick, code: 0 })).toBe(false);
    expect(wantsRestart(onFailure, { ...quick, code: 3 })).toBe(false);
    expect(wantsRestart(onFailure, { ...quick, code: 1 })).toBe(true);
    expect(wantsRestart(onFailure, { ...quick, code: null })).toBe(true); // killed by a signal
    expect(wantsRestart(onFailure, { ...quick, code: null, spawnFailed: true })).toBe(true);
    expect(wantsRestart({ ...policy, policy: 'always' }, { ...quick, code: 0 })).toBe(true);
    expect(wantsRestart({ ...policy, policy: 'no' }, { ...quick, code: 1 })).toBe(false);
  });

  it('doubles the delay up to the cap', () => {
    const tracker = new RestartTracker();
    const delays = Array.from({ length: 6 }, (_, i) => tracker.next(policy, quick, i));
    expect(delays).toEqual([100, 200, 400, 800, 1000, 1000]);
  });

  it('resets to the initial delay after a stable uptime', () => {
    const tracker = new RestartTracker();
    tracker.next(policy, quick, 0);
    tracker.next(policy, quick, 1);
    expect(tracker.next(policy, quick, 2)).toBe(400);
    expect(tracker.next(policy, { ...quick, uptimeMs: 5000 }, 3)).toBe(100);
  });

  it('spreads delays by the jitter fraction, within bounds', () => {
    const jittery = { ...policy, jitter: 0.5 };
    expect(new RestartTracker().next(jittery, quick, 0, () => 0)).toBe(50);
    expect(new RestartTracker().next(jittery, quick, 0, () => 1)).toBe(150);
    expect(new RestartTracker().next({ ...jittery, maxDelayMs: 120 }, quick, 0, () => 1)).toBe(120);
  });

  it('gives up after maxRestarts within the window, and again allows once the window has moved', () => {
    const limited = { ...policy, maxRestarts: 3, windowMs: 1000 };
    const tracker = new RestartTracker();
    expect([0, 10, 20].map((t) => tracker.next(limited, quick, t) !== null)).toEqual([true, true, true]);
    expect(tracker.next(limited, quick, 30)).toBeNull();
    expect(tracker.next(limited, quick, 1015)).not.toBeNull();
    tracker.reset();
    expect(tracker.recentRestarts).toBe(0);
  });

  describe('the defaults', () => {
    // A crash loop under the defaults, at the longest jitter: each instance lives `uptimeMs`,
    // then the tracker decides. Returns when the service is failed and after how many restarts.
    function crashLoop(uptimeMs: number): { failedAtMs: number; restarts: number } {
      const tracker = new RestartTracker();
      let now = 0;
      for (let restarts = 0; restarts <= 1000; restarts++) {
        now += uptimeMs;
        const delay = tracker.next(DEFAULT_RESTART_POLICY, { code: 1, uptimeMs, spawnFailed: false }, now, () => 1);
        if (delay === null) return { failedAtMs: now, restarts };
        now += delay;
      }
      throw new Error(`a crash loop of ${uptimeMs} ms instances was never failed`);
    }

    it('fit a burst of maxRestarts delays, at the longest jitter, in the window', () => {
      const { initialDelayMs, multiplier, maxDelayMs, jitter, maxRestarts, windowMs } = DEFAULT_RESTART_POLICY;
      const burst = Array.from({ length: maxRestarts }, (_, i) => Math.min(maxDelayMs, initialDelayMs * multiplier ** i * (1 + jitter)));
      const total = burst.reduce((sum, delay) => sum + delay, 0);
      expect(total).toBeLessThan(windowMs / 10);
      // systemd's start limit allows 5 starts in 10 s with RestartSec=100ms: the same order.
      expect(maxRestarts).toBeLessThanOrEqual(5);
      expect(initialDelayMs).toBeLessThanOrEqual(100);
    });

    it('fail a crash loop within about a minute: at once for a command that exits at once, in a minute for instances of 10 s', () => {
      const fast = crashLoop(0);
      expect(fast.restarts).toBe(DEFAULT_RESTART_POLICY.maxRestarts);
      expect(fast.failedAtMs).toBeLessThan(4000);
      const slow = crashLoop(10_000);
      expect(slow.restarts).toBe(DEFAULT_RESTART_POLICY.maxRestarts);
      expect(slow.failedAtMs).toBeLessThan(DEFAULT_RESTART_POLICY.windowMs + 2000);
    });
  });
});
