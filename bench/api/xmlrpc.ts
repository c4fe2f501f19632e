// A minimal XML-RPC client over a unix socket, enough for supervisord's interface: calls with
// string, integer and boolean parameters; responses with strings, numbers, booleans, arrays
// and structs, and faults.
import http from 'node:http';

export type XmlRpcValue = string | number | boolean | null | XmlRpcValue[] | { [key: string]: XmlRpcValue };

export class XmlRpcFault extends Error {
  override name = 'XmlRpcFault';
  readonly faultCode: number;

  constructor(faultCode: number, faultString: string) {
    super(`XML-RPC fault ${faultCode}: ${faultString}`);
    this.faultCode = faultCode;
  }
}

const escape = (text: string): string => text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
const unescape = (text: string): string =>
  text.replace(/&(lt|gt|quot|apos|amp|#(\d+)|#x([0-9a-fA-F]+));/g, (_m, name: string, dec?: string, hex?: string) => {
    if (dec !== undefined) return String.fromCodePoint(Number(dec));
    if (hex !== undefined) return String.fromCodePoint(parseInt(hex, 16));
    return ({ lt: '<', gt: '>', quot: '"', apos: "'", amp: '&' } as Record<string, string>)[name]!;
  });

function encodeValue(value: string | number | boolean): string {
  if (typeof value === 'boolean') return `<value><boolean>${value ? 1 : 0}</boolean></value>`;
  if (typeof value === 'number') return `<value><int>${Math.trunc(value)}</int></value>`;
  return `<value><string>${escape(value)}</string></value>`;
}

export function encodeCall(method: string, params: ReadonlyArray<string | number | boolean>): string {
  return `<?xml version="1.0"?>\n<methodCall><methodName>${escape(method)}</methodName><params>${params.map((p) => `<param>${encodeValue(p)}</param>`).join('')}</params></methodCall>`;
}

type Token = { tag: string; close: boolean; empty: boolean } | { text: string };

function tokenize(xml: string): Token[] {
  const tokens: Token[] = [];
  const pattern = /<\?[^>]*\?>|<(\/?)([A-Za-z0-9_.:-]+)[^>]*?(\/?)>|([^<]+)/g;
  for (const match of xml.matchAll(pattern)) {
    if (match[2] !== undefined) tokens.push({ tag: match[2], close: match[1] === '/', empty: match[3] === '/' });
    else if (match[4] !== undefined) tokens.push({ text: match[4] });
  }
  return tokens;
}

class Parser {
  #i = 0;
  readonly #tokens: Token[];

  constructor(tokens: Token[]) {
    this.#tokens = tokens;
  }

  #skipBlank(): void {
    while (this.#i < this.#tokens.length) {
      const t = this.#tokens[this.#i]!;
      if ('text' in t && t.text.trim() === '') this.#i++;
      else break;
    }
  }

  #open(tag?: string): { tag: string; empty: boolean } {
    this.#skipBlank();
    const t = this.#tokens[this.#i++];
    if (t === undefined || 'text' in t || t.close || (tag !== undefined && t.tag !== tag)) throw new Error(`XML-RPC: expected <${tag ?? 'tag'}>`);
    return t;
  }

  #close(tag: string): void {
    this.#skipBlank();
    const t = this.#tokens[this.#i++];
    if (t === undefined || 'text' in t || !t.close || t.tag !== tag) throw new Error(`XML-RPC: expected </${tag}>`);
  }

  #peekClose(tag: string): boolean {
    this.#skipBlank();
    const t = this.#tokens[this.#i];
    return t !== undefined && !('text' in t) && t.close && t.tag === tag;
  }

  #text(): string {
    const t = this.#tokens[this.#i];
    if (t !== undefined && 'text' in t) {
      this.#i++;
      return unescape(t.text);
    }
    return '';
  }

  response(): XmlRpcValue {
    this.#open('methodResponse');
    const kind = this.#open();
    if (kind.tag === 'fault') {
      const fault = this.value() as { faultCode: number; faultString: string };
      throw new XmlRpcFault(fault.faultCode, fault.faultString);
    }
    this.#open('param');
    return this.value();
  }

  value(): XmlRpcValue {
    const open = this.#open('value');
    if (open.empty) return '';
    // <value>text</value> is a string
    const t = this.#tokens[this.#i];
    if (t !== undefined && 'text' in t) {
      const next = this.#tokens[this.#i + 1];
      if (next !== undefined && !('text' in next) && next.close && next.tag === 'value') {
        this.#i++;
        this.#close('value');
        return unescape(t.text);
      }
    }
    if (this.#peekClose('value')) {
      this.#close('value');
      return '';
    }
    const type = this.#open();
    let result: XmlRpcValue;
    switch (type.tag) {
      case 'string':
        result = type.empty ? '' : this.#text();
        break;
      case 'int':
      case 'i4':
      case 'i8':
      case 'double':
        result = Number(this.#text());
        break;
      case 'boolean':
        result = this.#text().trim() === '1';
        break;
      case 'nil':
        result = null;
        break;
      case 'array': {
        const items: XmlRpcValue[] = [];
        this.#open('data');
        while (!this.#peekClose('data')) items.push(this.value());
        this.#close('data');
        result = items;
        break;
      }
      case 'struct': {
        const struct: Record<string, XmlRpcValue> = {};
        while (!this.#peekClose('struct')) {
          this.#open('member');
          this.#open('name');
          const name = this.#text();
          this.#close('name');
          struct[name] = this.value();
          this.#close('member');
        }
        result = struct;
        break;
      }
      default:
        result = this.#text();
    }
    if (!type.empty && type.tag !== 'nil') this.#close(type.tag);
    this.#close('value');
    return result;
  }
}

export function decodeResponse(xml: string): XmlRpcValue {
  return new Parser(tokenize(xml)).response();
}

/** Calls `method` on the XML-RPC server behind a unix socket (supervisord: path /RPC2). */
export function call(socketPath: string, method: string, params: ReadonlyArray<string | number | boolean> = [], timeoutMs = 120_000): Promise<XmlRpcValue> {
  const body = Buffer.from(encodeCall(method, params));
  return new Promise((resolve, reject) => {
    const req = http.request(
      { socketPath, method: 'POST', path: '/RPC2', headers: { 'content-type': 'text/xml', 'content-length': String(body.length), host: 'localhost' } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode !== 200) {
            reject(new Error(`${method}: HTTP ${res.statusCode} ${text.slice(0, 200)}`));
            return;
          }
          try {
            resolve(decodeResponse(text));
          } catch (error) {
            reject(error);
          }
        });
        res.on('error', reject);
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}
