// supervisord's expand(): a value is a Python %-format string applied to a mapping
// (`value % expansions`), so `%(program_name)s`, `%(process_num)02d` and `%(ENV_HOME)s`
// expand, `%%` is a literal '%', and any other '%' is an error ("badly formatted"), as
// supervisord refuses it. The conversions are those of Python's printf-style formatting that
// a mapping allows (no '*' width).

export type Expansions = Readonly<Record<string, string | number>>;

export class ExpansionError extends Error {}

const SPEC = /%(?:\(([^)]*)\))?([#0\- +]*)(\d*)(?:\.(\d*))?[hlL]?([diouxXeEfFgGcrsa%])?/uy;

/** `text % expansions`; throws ExpansionError with supervisord's wording. */
export function expand(text: string, expansions: Expansions, name: string): string {
  let out = '';
  let index = 0;
  while (index < text.length) {
    const percent = text.indexOf('%', index);
    if (percent === -1) {
      out += text.slice(index);
      break;
    }
    out += text.slice(index, percent);
    SPEC.lastIndex = percent;
    const match = SPEC.exec(text);
    if (match === null || match[5] === undefined) {
      const key = text.slice(percent).startsWith('%(') && !text.slice(percent).includes(')') ? 'incomplete format key' : 'incomplete format';
      throw new ExpansionError(`Format string ${pyRepr(text)} for ${pyRepr(name)} is badly formatted: ${key}`);
    }
    const [whole, key, flags = '', width = '', precision, conversion] = match;
    index = percent + whole.length;
    if (conversion === '%' && key === undefined) {
      out += '%';
      continue;
    }
    if (key === undefined) throw new ExpansionError(`Format string ${pyRepr(text)} for ${pyRepr(name)} is badly formatted: format requires a mapping`);
    if (!Object.hasOwn(expansions, key)) {
      const available = Object.keys(expansions).sort().join(', ');
      throw new ExpansionError(`Format string ${pyRepr(text)} for ${pyRepr(name)} contains names ('${key}') which cannot be expanded. Available names: ${available}`);
    }
    out += pad(convert(expansions[key]!, conversion, flags, precision, text, name), flags, width, conversion);
  }
  return out;
}

function convert(value: string | number, conversion: string, flags: string, precision: string | undefined, text: string, name: string): string {
  const bad = (why: string): ExpansionError => new ExpansionError(`Format string ${pyRepr(text)} for ${pyRepr(name)} is badly formatted: ${why}`);
  switch (conversion) {
    case 's':
    case '%':
      return precision === undefined ? String(value) : String(value).slice(0, Number(precision || 0));
    case 'r':
    case 'a':
      return typeof value === 'number' ? String(value) : pyRepr(value);
    case 'd':
    case 'i':
    case 'u':
    case 'o':
    case 'x':
    case 'X': {
      if (typeof value !== 'number') throw bad(`%${conversion} format: a real number is required, not str`);
      const radix = conversion === 'o' ? 8 : conversion === 'x' || conversion === 'X' ? 16 : 10;
      let digits = Math.trunc(Math.abs(value)).toString(radix);
      if (precision !== undefined) digits = digits.padStart(Number(precision || 0), '0');
      if (conversion === 'X') digits = digits.toUpperCase();
      if (flags.includes('#') && radix !== 10) digits = `0${conversion === 'o' ? 'o' : conversion}${digits}`;
      return `${value < 0 ? '-' : flags.includes('+') ? '+' : flags.includes(' ') ? ' ' : ''}${digits}`;
    }
    case 'f':
    case 'F':
      if (typeof value !== 'number') throw bad(`must be real number, not str`);
      return value.toFixed(precision === undefined ? 6 : Number(precision || 0));
    default:
      throw bad(`the %${conversion} conversion is not supported by pidvisor import`);
  }
}

/** Width: spaces on the left, on the right with '-', zeros after the sign with '0' (numbers). */
function pad(text: string, flags: string, width: string, conversion: string): string {
  const size = Number(width || 0);
  if (text.length >= size) return text;
  if (flags.includes('-')) return text.padEnd(size, ' ');
  if (flags.includes('0') && !'srac%'.includes(conversion)) {
    const sign = /^[-+ ]/u.test(text) ? text[0]! : '';
    return sign + text.slice(sign.length).padStart(size - sign.length, '0');
  }
  return text.padStart(size, ' ');
}

/** Python's repr() of a str, as supervisord's messages quote values. */
export function pyRepr(text: string): string {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  const body = text.replace(/\\/gu, '\\\\').replace(/\n/gu, '\\n').replace(/\t/gu, '\\t').replace(/\r/gu, '\\r');
  return quote + (quote === "'" ? body.replace(/'/gu, "\\'") : body) + quote;
}
