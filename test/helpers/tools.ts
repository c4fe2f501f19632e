// Programs some tests drive (strace, script, setpriv, prlimit): why such a test must skip here.
import { execFileSync } from 'node:child_process';

/** null when `command --version` runs, else a reason naming the Debian package to install. */
export function missingTool(command: string, debianPackage: string): string | null {
  try {
    execFileSync(command, ['--version'], { stdio: 'ignore' });
    return null;
  } catch {
    return `${command} is not installed (Debian package ${debianPackage})`;
  }
}
