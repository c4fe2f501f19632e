// The two ways supervisord cuts strings with Python's shlex module, ported state for state
// from CPython 3.11's shlex.read_token (no npm shell parser reproduces either: they expand
// variables and operators, which shlex does not):
//   - a command: shlex.split(command), POSIX mode, split on whitespace only
//     (supervisor/process.py, get_execv_args);
//   - an environment: shlex.shlex(value), non-POSIX mode, '#' starts a comment, and
//     '/.+-():' added to the word characters (supervisor/datatypes.py,
//     dict_of_key_value_pairs), whose tokens are read as KEY = VALUE , KEY = VALUE ...

export class ShlexError extends Error {}

const WHITESPACE = ' \t\r\n';

/** shlex.split(text): POSIX rules, whitespace_split, no comments. */
export function shlexSplit(text: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let index = 0;
  while (index < text.length) {
    const char = text[index++]!;
    if (WHITESPACE.includes(char)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else if (char === '\\') {
      if (index >= text.length) throw new ShlexError('No escaped character');
      word += text[index++];
      inWord = true;
    } else if (char === "'") {
      const end = text.indexOf("'", index);
      if (end === -1) throw new ShlexError('No closing quotation');
      word += text.slice(index, end);
      index = end + 1;
      inWord = true;
    } else if (char === '"') {
      // Inside double quotes a backslash escapes only '"' and '\'; before anything else it stays.
      for (;;) {
        if (index >= text.length) throw new ShlexError('No closing quotation');
        const inner = text[index++]!;
        if (inner === '"') break;
        if (inner === '\\') {
          if (index >= text.length) throw new ShlexError('No escaped character');
          const escaped = text[index++]!;
          word += escaped === '"' || escaped === '\\' ? escaped : `\\${escaped}`;
        } else {
          word += inner;
        }
      }
      inWord = true;
    } else {
      word += char;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}

const ENV_WORD_CHARS = new Set('abcdfeghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_/.+-():');

/**
 * The tokens of `list(shlex.shlex(text))` with supervisord's word characters: a run of word
 * characters (quotes inside a word are kept in it), a quoted string with its quotes, or any
 * other single character. '#' outside quotes skips to the end of the line. The list ends at
 * the first empty token, as shlex's iterator does.
 */
export function shlexTokens(text: string): string[] {
  const tokens: string[] = [];
  let index = 0;
  const skipLine = (): void => {
    const newline = text.indexOf('\n', index);
    index = newline === -1 ? text.length : newline + 1;
  };
  for (;;) {
    let token = '';
    let state: ' ' | 'a' | '"' | "'" = ' ';
    while (index < text.length) {
      const char = text[index++]!;
      if (state === ' ') {
        if (WHITESPACE.includes(char)) {
          if (token !== '') break;
        } else if (char === '#') {
          skipLine();
        } else if (ENV_WORD_CHARS.has(char)) {
          token = char;
          state = 'a';
        } else if (char === '"' || char === "'") {
          token = char;
          state = char;
        } else {
          token = char;
          break;
        }
      } else if (state === '"' || state === "'") {
        token += char;
        if (char === state) {
          state = ' ';
          break;
        }
      } else if (WHITESPACE.includes(char)) {
        break;
      } else if (char === '#') {
        // Non-POSIX shlex skips the rest of the line and goes on with the same word.
        skipLine();
      } else if (ENV_WORD_CHARS.has(char) || char === '"' || char === "'") {
        token += char;
      } else {
        // Pushed back: it is the next token on its own.
        index--;
        break;
      }
    }
    if (state === '"' || state === "'") throw new ShlexError('No closing quotation');
    if (token === '') return tokens;
    tokens.push(token);
  }
}

export interface KeyValuePairs {
  pairs: Record<string, string>;
  /** Tokens supervisord skips silently where it expects a ',' (e.g. the rest of an unquoted value with a space). */
  skipped: string[];
}

/**
 * dict_of_key_value_pairs: tokens taken four at a time as KEY '=' VALUE SEPARATOR; the value
 * loses every leading and trailing quote; the separator is not checked, so in `A=hello world`
 * A is "hello" and "world" is dropped.
 */
export function keyValuePairs(text: string): KeyValuePairs {
  const tokens = shlexTokens(text);
  const pairs: Record<string, string> = {};
  const skipped: string[] = [];
  for (let index = 0; index < tokens.length; index += 4) {
    const [key, equals, value] = tokens.slice(index, index + 3);
    if (key === undefined || equals !== '=' || value === undefined) throw new ShlexError(`Unexpected end of key/value pairs in value '${text}'`);
    pairs[key] = value.replace(/^['"]+|['"]+$/gu, '');
    const separator = tokens[index + 3];
    if (separator !== undefined && separator !== ',') skipped.push(separator);
  }
  return { pairs, skipped };
}
