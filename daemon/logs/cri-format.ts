// The on-disk record format: the Kubernetes CRI log format, one record per line,
//   <RFC3339Nano timestamp> <stream> <tag> <content>\n
// where tag F ends a line (its '\n' is not part of the content) and P is a piece of a line
// (split because it was too long, or flushed before its '\n' came). Content is the child's
// bytes verbatim: it never holds '\n', so every '\n' in a file ends a record, and a stream
// is rebuilt byte-exact by joining contents and adding '\n' after each F record.
// kubectl, crictl, fluent-bit and vector all read this format.

export type LogStream = 'stdout' | 'stderr';

/** One piece of a stream, as the line splitter cuts it. */
export interface Piece {
  /** Often a view of the read chunk. */
  data: Buffer;
  /** True when no '\n' ended this piece (P record); false for the end of a line (F record). */
  partial: boolean;
}

/** A record as read back from a log file. */
export interface FileRecord {
  /** The timestamp as written: RFC 3339; ours have nine fraction digits and Z, so they sort as strings. */
  timestamp: string;
  stream: LogStream;
  partial: boolean;
  data: Buffer;
}

export interface DecodedLog {
  records: FileRecord[];
  /** Lines that are not records: foreign text, or a record torn by a crash. */
  invalidLines: number;
}

const NEWLINE = 0x0a;
const SPACE = 0x20;

/** Formats nanoseconds since the epoch as RFC 3339 in UTC with exactly nine fraction digits. */
export function formatTimestamp(epochNs: bigint): string {
  const seconds = epochNs / 1_000_000_000n;
  const nanos = epochNs % 1_000_000_000n;
  const iso = new Date(Number(seconds) * 1000).toISOString(); // 2024-01-02T03:04:05.000Z
  return `${iso.slice(0, 19)}.${nanos.toString().padStart(9, '0')}Z`;
}

/** The bytes before a record's content: "<timestamp> <stream> <F|P> ". */
export function recordHeader(timestamp: string, stream: LogStream, partial: boolean): Buffer {
  return Buffer.from(`${timestamp} ${stream} ${partial ? 'P' : 'F'} `, 'latin1');
}

/** Decodes a buffer of records; a last line without '\n' is a torn record and counts as invalid. */
export function decodeRecords(buffer: Buffer): DecodedLog {
  const records: FileRecord[] = [];
  let invalidLines = 0;
  let start = 0;
  while (start < buffer.length) {
    const end = buffer.indexOf(NEWLINE, start);
    if (end === -1) {
      invalidLines++;
      break;
    }
    const record = decodeLine(buffer.subarray(start, end));
    if (record === null) invalidLines++;
    else records.push(record);
    start = end + 1;
  }
  return { records, invalidLines };
}

/** Parses one line (without its '\n'); null when it is not a record. */
export function decodeLine(line: Buffer): FileRecord | null {
  const afterTime = line.indexOf(SPACE);
  if (afterTime < 20 || afterTime > 35) return null;
  const timestamp = line.toString('latin1', 0, afterTime);
  if (!TIMESTAMP.test(timestamp)) return null;
  const afterStream = line.indexOf(SPACE, afterTime + 1);
  if (afterStream === -1) return null;
  const stream = line.toString('latin1', afterTime + 1, afterStream);
  if (stream !== 'stdout' && stream !== 'stderr') return null;
  const tag = line[afterStream + 1];
  // The space after the tag is there even for empty content.
  if ((tag !== TAG_F && tag !== TAG_P) || line[afterStream + 2] !== SPACE) return null;
  return { timestamp, stream, partial: tag === TAG_P, data: line.subarray(afterStream + 3) };
}

// Ours always have nine fraction digits and Z; other CRI writers (Go's RFC3339Nano) trim
// trailing zeros, and RFC 3339 allows an offset.
const TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$/;
const TAG_F = 0x46;
const TAG_P = 0x50;
