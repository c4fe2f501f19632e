// The dashboard's files (web/ in the package), read once when the app is built and served
// from memory: plain ES modules, a style sheet and an icon, no build step and nothing from
// the network. Only these few kinds of files are served, by exact name.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface UiAsset {
  body: Buffer;
  contentType: string;
  etag: string;
}

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/**
 * The web/ directory of the package: beside api/ in the sources, one level further up from
 * the compiled dist/api/. Found by walking up from this module, a few levels at most.
 */
export function webRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let level = 0; level < 6; level++) {
    const candidate = path.join(dir, 'web');
    if (fs.existsSync(path.join(candidate, 'index.html'))) return candidate;
    dir = path.dirname(dir);
  }
  throw new Error(`the dashboard's files (web/index.html) were not found above ${path.dirname(fileURLToPath(import.meta.url))}`);
}

/** Every servable file of `root` (not its subdirectories), by name. */
export function loadUiAssets(root = webRoot()): ReadonlyMap<string, UiAsset> {
  const assets = new Map<string, UiAsset>();
  for (const entry of fs.readdirSync(root, { withFileTypes: true })) {
    const contentType = CONTENT_TYPES[path.extname(entry.name)];
    if (!entry.isFile() || contentType === undefined) continue;
    const body = fs.readFileSync(path.join(root, entry.name));
    assets.set(entry.name, { body, contentType, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` });
  }
  return assets;
}
