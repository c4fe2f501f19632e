// What a failed test may leave running: the instances it saw, killed through a pidfd and only
// while the pid still names that instance (a pid reused meanwhile is never signalled).
import { adopt } from '../../native/index.js';

export interface SeenInstance {
  pid: number;
  instance: string;
}

/** SIGKILLs each instance still alive (with `processGroup`, its whole group); the gone ones are skipped. */
export function killLeftInstances(instances: Iterable<SeenInstance>, options: { processGroup?: boolean } = {}): void {
  for (const { pid, instance } of instances) {
    try {
      const ref = adopt(pid, instance, { watch: false });
      ref.signal('SIGKILL', options.processGroup === true ? { processGroup: true } : {});
      ref.close();
    } catch {
      // gone, as it should be
    }
  }
}
