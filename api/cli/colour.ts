// Colours for people at a terminal, and for nobody else: on when the stream is a TTY, off
// when NO_COLOR is set to anything but the empty string (no-color.org), forced on with
// FORCE_COLOR (a value other than 0 or false), as Node's own util.styleText and chalk do.
import type { State } from '../../daemon/state-machine.js';

export type Paint = (text: string) => string;

export interface Palette {
  enabled: boolean;
  bold: Paint;
  dim: Paint;
  red: Paint;
  green: Paint;
  yellow: Paint;
  cyan: Paint;
  inverse: Paint;
}

/** Whether `stream` gets colours, given the environment. */
export function wantsColour(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  const force = env.FORCE_COLOR;
  if (force !== undefined && force !== '0' && force.toLowerCase() !== 'false') return true;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  return stream.isTTY === true && env.TERM !== 'dumb';
}

const sgr = (on: number, off: number): Paint => (text) => `\x1b[${on}m${text}\x1b[${off}m`;
const plain: Paint = (text) => text;

export function palette(enabled: boolean): Palette {
  if (!enabled) return { enabled, bold: plain, dim: plain, red: plain, green: plain, yellow: plain, cyan: plain, inverse: plain };
  return { enabled, bold: sgr(1, 22), dim: sgr(2, 22), red: sgr(31, 39), green: sgr(32, 39), yellow: sgr(33, 39), cyan: sgr(36, 39), inverse: sgr(7, 27) };
}

/** The palette for standard output. */
export function stdoutPalette(): Palette {
  return palette(wantsColour(process.stdout));
}

/** A state in the colour people read it by: running green, on its way yellow, failed or blocked red. */
export function paintState(colours: Palette, state: State | string): string {
  switch (state) {
    case 'running':
      return colours.green(state);
    case 'starting':
    case 'waiting':
    case 'backoff':
    case 'stopping':
    case 'removing':
      return colours.yellow(state);
    case 'failed':
    case 'blocked':
      return colours.red(state);
    default:
      return colours.dim(state);
  }
}
