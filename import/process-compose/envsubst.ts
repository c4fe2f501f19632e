// process-compose substitutes variables in the whole file before it parses the YAML
// (src/loader/loader.go: "$$" is kept as "$", the rest goes through drone/envsubst with the
// .env file's variables first, then the environment). The forms handled here are the ones
// compose files use: $NAME, ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:=default},
// ${NAME=default}; any other ${...} is refused rather than guessed.
import { ImportError } from '../result.js';

export interface Substitution {
  text: string;
  /** The variables read (names only: their values may be secrets). */
  used: string[];
}

export function envsubst(text: string, lookup: (name: string) => string | undefined, file: string): Substitution {
  const used = new Set<string>();
  const value = (name: string): string | undefined => {
    used.add(name);
    return lookup(name);
  };
  let out = '';
  let index = 0;
  while (index < text.length) {
    const dollar = text.indexOf('$', index);
    if (dollar === -1) {
      out += text.slice(index);
      break;
    }
    out += text.slice(index, dollar);
    const rest = text.slice(dollar);
    if (rest.startsWith('$$')) {
      out += '$';
      index = dollar + 2;
      continue;
    }
    const plain = /^\$([A-Za-z_][A-Za-z0-9_]*)/u.exec(rest);
    if (plain !== null) {
      out += value(plain[1]!) ?? '';
      index = dollar + plain[0].length;
      continue;
    }
    if (rest.startsWith('${')) {
      const braced = /^\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-=])([^}]*))?\}/u.exec(rest);
      if (braced === null) {
        const line = text.slice(0, dollar).split('\n').length;
        throw new ImportError(`${file}:${line}: ${rest.split('\n')[0]}: this form of variable substitution is not supported by pidvisor import ($NAME, \${NAME}, \${NAME:-default} and \${NAME-default} are)`);
      }
      const [whole, name, operator, fallback = ''] = braced;
      const found = value(name!);
      const unset = operator?.startsWith(':') === true ? found === undefined || found === '' : found === undefined;
      out += operator !== undefined && unset ? fallback : (found ?? '');
      index = dollar + whole.length;
      continue;
    }
    out += '$';
    index = dollar + 1;
  }
  return { text: out, used: [...used] };
}

/** A .env file as godotenv reads it: KEY=value lines, `export ` allowed, quotes, # comments. */
export function parseDotEnv(text: string): Record<string, string> {
  const variables: Record<string, string> = {};
  for (const raw of text.replace(/\r\n?/gu, '\n').split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const match = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*[=:]\s*(.*)$/u.exec(line);
    if (match === null) continue;
    let value = match[2]!;
    if (value.startsWith('"') && value.lastIndexOf('"') > 0) {
      value = value.slice(1, value.lastIndexOf('"')).replace(/\\n/gu, '\n').replace(/\\"/gu, '"').replace(/\\\\/gu, '\\');
    } else if (value.startsWith("'") && value.lastIndexOf("'") > 0) {
      value = value.slice(1, value.lastIndexOf("'"));
    } else {
      value = value.replace(/\s+#.*$/u, '').trim();
    }
    variables[match[1]!] = value;
  }
  return variables;
}
