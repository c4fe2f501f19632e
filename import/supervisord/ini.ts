// A reader for supervisord's INI files that follows the rules supervisord itself reads them
// with: Python's configparser.RawConfigParser as supervisor/options.py sets it up
// (UnhosedConfigParser: inline_comment_prefixes ';' and '#', strict=False, no interpolation).
//
// Not an npm INI parser: the ones on the registry (ini, js-ini, ...) differ from
// configparser where supervisord files rely on it: a ';' or '#' starts an inline comment
// only after whitespace (`url=http://x/#a` keeps its '#'), an indented line continues the
// previous value (joined with '\n'), `:` is a delimiter as well as `=`, option names are
// lower-cased while section names are not, [DEFAULT] supplies options to every section, and
// a repeated section or option merges, the last value winning (strict=False).
// The rules below are those of CPython 3.11's RawConfigParser._read, line by line.

export interface IniValue {
  value: string;
  /** Where the option was set: the file and its 1-based line. */
  file: string;
  line: number;
}

export interface IniSection {
  name: string;
  file: string;
  line: number;
  options: Map<string, IniValue>;
  /** The comment lines right above the section header, without their ';' or '#'. */
  comments: string[];
}

export class IniSyntaxError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    message: string,
  ) {
    super(`${file}:${line}: ${message}`);
  }
}

/** Sections in the order they first appear; [DEFAULT]'s options are kept apart. */
export class IniDocument {
  readonly sections = new Map<string, IniSection>();
  readonly defaults = new Map<string, IniValue>();

  /** configparser's get(): the section's own option, else [DEFAULT]'s. */
  get(section: string, option: string): IniValue | undefined {
    return this.sections.get(section)?.options.get(option) ?? this.defaults.get(option);
  }

  /** configparser's items(): [DEFAULT]'s options overridden by the section's own. */
  options(section: string): Map<string, IniValue> {
    return new Map([...this.defaults, ...(this.sections.get(section)?.options ?? [])]);
  }

  /** Reads `text` into this document (another file of the same configuration merges in). */
  read(text: string, file: string): void {
    let current: Map<string, IniValue> | null = null;
    let currentName: string | null = null;
    let option: { name: string; lines: string[]; at: IniValue } | null = null;
    let indentLevel = 0;
    let pendingComments: string[] = [];
    const badLines: string[] = [];
    const finish = (): void => {
      if (option !== null && current !== null) current.set(option.name, { ...option.at, value: option.lines.join('\n').replace(/\s+$/u, '') });
    };
    // Python's text mode reads '\r\n' and '\r' as '\n' (universal newlines).
    const lines = text.replace(/\r\n?/g, '\n').split('\n');
    if (lines.at(-1) === '') lines.pop();
    lines.forEach((raw, index) => {
      const lineNumber = index + 1;
      const commentStart = findCommentStart(raw);
      const value = pyStrip(commentStart === null ? raw : raw.slice(0, commentStart));
      if (value === '') {
        // An empty line belongs to a multi-line value, unless the line held a comment.
        if (commentStart === null && option !== null) option.lines.push('');
        if (commentStart !== null) pendingComments.push(commentText(raw));
        else pendingComments = [];
        return;
      }
      const indent = raw.search(/\S/u);
      if (current !== null && option !== null && indent > indentLevel) {
        option.lines.push(value);
        return;
      }
      indentLevel = indent;
      const header = /^\[(.+)\]/u.exec(value);
      if (header !== null) {
        finish();
        option = null;
        currentName = header[1]!;
        if (currentName === 'DEFAULT') {
          current = this.defaults;
        } else {
          let section = this.sections.get(currentName);
          if (section === undefined) {
            section = { name: currentName, file, line: lineNumber, options: new Map(), comments: pendingComments };
            this.sections.set(currentName, section);
          }
          current = section.options;
        }
        pendingComments = [];
        return;
      }
      if (current === null) throw new IniSyntaxError(file, lineNumber, `File contains no section headers: ${JSON.stringify(raw)}`);
      // OPTCRE: the shortest name before the first '=' or ':', spaces around it dropped.
      const match = /^(.*?)\s*([=:])\s*(.*)$/u.exec(value);
      if (match === null || match[1] === '') {
        badLines.push(`[line ${String(lineNumber).padStart(2)}]: ${JSON.stringify(raw)}`);
        return;
      }
      finish();
      option = { name: pyStrip(match[1]!).toLowerCase(), lines: [pyStrip(match[3]!)], at: { value: '', file, line: lineNumber } };
      pendingComments = [];
    });
    finish();
    // configparser reads the whole file, then reports every line it could not parse.
    if (badLines.length > 0) throw new IniSyntaxError(file, Number(/\d+/u.exec(badLines[0]!)![0]), `Source contains parsing errors:\n${badLines.join('\n')}`);
  }
}

/**
 * Where the comment on this line starts, or null. CPython's loop, kept as it is: each round
 * finds the next ';' and the next '#'; the round in which one of them is at the start of the
 * line or after whitespace decides, so in `a;b ;c #d` the comment is `#d` (round one finds
 * ';' at 1, not after a space, and '#' at 7), not `;c #d`. A line whose first non-space
 * character is ';' or '#' is all comment.
 */
function findCommentStart(line: string): number | null {
  const stripped = pyStrip(line);
  if (stripped.startsWith('#') || stripped.startsWith(';')) return 0;
  let searchFrom = new Map<string, number>([
    [';', -1],
    ['#', -1],
  ]);
  let start = Number.MAX_SAFE_INTEGER;
  while (start === Number.MAX_SAFE_INTEGER && searchFrom.size > 0) {
    const next = new Map<string, number>();
    for (const [prefix, previous] of searchFrom) {
      const index = line.indexOf(prefix, previous + 1);
      if (index === -1) continue;
      next.set(prefix, index);
      if (index === 0 || /\s/u.test(line[index - 1]!)) start = Math.min(start, index);
    }
    searchFrom = next;
  }
  return start === Number.MAX_SAFE_INTEGER ? null : start;
}

function commentText(line: string): string {
  return pyStrip(line).replace(/^[;#]+\s?/u, '').replace(/\s+$/u, '');
}

/** Python's str.strip(): Unicode whitespace at both ends. */
export function pyStrip(text: string): string {
  return text.replace(/^\s+|\s+$/gu, '');
}
