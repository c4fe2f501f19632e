// One sd_notify datagram as text: newline-separated KEY=VALUE assignments (sd_notify(3)).
// Parsed strictly: a datagram that is not UTF-8, holds a NUL, or has a line without `=` is
// malformed as a whole, and none of it is acted on (systemd drops such datagrams too).

export type NotifyFields = ReadonlyMap<string, string>;

/** The assignments of `message`, later ones winning; null when it is malformed. */
export function parseNotifyMessage(message: Buffer): NotifyFields | null {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(message);
  } catch {
    return null;
  }
  if (text.includes('\0')) return null;
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const equals = line.indexOf('=');
    if (equals <= 0) return null;
    fields.set(line.slice(0, equals), line.slice(equals + 1));
  }
  return fields.size === 0 ? null : fields;
}

/** A decimal count of microseconds (WATCHDOG_USEC=, EXTEND_TIMEOUT_USEC=, MONOTONIC_USEC=); null when not one. */
export function parseMicros(value: string | undefined): number | null {
  if (value === undefined || !/^[0-9]{1,19}$/.test(value)) return null;
  const micros = Number(value);
  return Number.isSafeInteger(micros) ? micros : null;
}

/** A pid as MAINPID= gives it; null when not a positive integer. */
export function parsePid(value: string | undefined): number | null {
  if (value === undefined || !/^[1-9][0-9]{0,9}$/.test(value)) return null;
  const pid = Number(value);
  return pid <= 2 ** 22 ? pid : null;
}
