// The imported services as a pidvisor config file: YAML, each service with the comments
// that explain where it came from, then the notes as a comment block at the end so the file
// says itself what did not come across.
import { Document, isMap, isPair, isScalar } from 'yaml';
import type { ImportNote, ImportResult } from './result.js';

export function renderConfig(result: ImportResult): string {
  const services: Record<string, unknown> = {};
  for (const service of result.services) services[service.name] = service.spec;
  // Services share objects (replicas one command, a probe its check): written out each time, not as YAML aliases.
  const document = new Document({ services }, { aliasDuplicateObjects: false });
  document.commentBefore = ` pidvisor config imported from ${result.file} (${result.format}) by \`pidvisor import\`.\n Check it with \`pidvisor check --config FILE\`; load it with \`pidvisor daemon --config FILE\`.`;
  const map = document.get('services', true);
  if (isMap(map)) {
    for (const pair of map.items) {
      const key = isPair(pair) && isScalar(pair.key) ? pair.key : null;
      if (key === null) continue;
      const service = result.services.find((s) => s.name === key.value);
      if (service !== undefined && service.comments.length > 0) key.commentBefore = service.comments.map((line) => ` ${line}`).join('\n');
    }
  }
  if (result.notes.length > 0) document.comment = [` Not carried over as it was (${result.notes.length}):`, ...result.notes.map((note) => ` ${noteLine(note)}`)].join('\n');
  const text = document.toString({ lineWidth: 0 });
  return text.endsWith('\n') ? text : `${text}\n`;
}

/** `FILE:LINE: [program:web] stdout_logfile: unmapped: why` */
export function noteLine(note: ImportNote): string {
  return `${note.at}: ${note.entry} ${note.setting}: ${note.kind}: ${note.reason}`;
}
