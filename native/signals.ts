// Signal names and numbers, from the running platform's table (os.constants.signals).
import os from 'node:os';

export type SignalName = keyof typeof os.constants.signals;
export type SignalLike = SignalName | number;

const byNumber = new Map<number, SignalName>();
for (const [name, number] of Object.entries(os.constants.signals) as Array<[SignalName, number]>) {
  // Aliases (SIGIOT = SIGABRT, SIGPOLL = SIGIO) map to the first, canonical name.
  if (!byNumber.has(number)) byNumber.set(number, name);
}

/** Highest signal number, SIGRTMAX on Linux. */
export const MAX_SIGNAL = 64;

/** The number of a signal given by name ("SIGTERM", "TERM") or number (0 is the existence check). */
export function signalNumber(signal: SignalLike): number {
  if (typeof signal === 'number') {
    if (!Number.isInteger(signal) || signal < 0 || signal > MAX_SIGNAL) {
      throw new RangeError(`invalid signal number ${signal}`);
    }
    return signal;
  }
  const name = (signal.startsWith('SIG') ? signal : `SIG${signal}`) as SignalName;
  const number = os.constants.signals[name];
  if (number === undefined) throw new RangeError(`unknown signal ${JSON.stringify(signal)}`);
  return number;
}

/** The signals of a kernel signal set (bit n-1 for signal n), in ascending order. */
export function signalsInSet(set: bigint): number[] {
  const signals: number[] = [];
  for (let n = 1; n <= MAX_SIGNAL; n++) if ((set >> BigInt(n - 1)) & 1n) signals.push(n);
  return signals;
}

/** The canonical name of a signal number, or "SIG<n>" for one without a name (real-time signals). */
export function signalName(number: number): string {
  return byNumber.get(number) ?? `SIG${number}`;
}
