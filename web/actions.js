// The buttons of a service: start, stop, restart, and a signal picker. Each click sends the
// request for the instance the page shows (api.js act), then reports the answer.
import { act } from './api.js';
import { h } from './dom.js';

const SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGQUIT', 'SIGKILL', 'SIGSTOP', 'SIGCONT'];
const HAS_INSTANCE = new Set(['starting', 'running', 'stopping']);
// No process, but a stop means something: it cancels the restart delay or the wait for dependencies.
const STOPPABLE_WITHOUT_INSTANCE = new Set(['backoff', 'waiting', 'blocked']);

/** A set of controls bound to one service; `update(process)` keeps them in step with it. */
export function actionControls(report) {
  let current = null;
  const run = (action, label) => async (event) => {
    const button = event.currentTarget;
    const target = current;
    if (target === null) return;
    button.disabled = true;
    try {
      await act(target, action, picker.value);
      report.done(`${label} ${target.name ?? target.id}`);
    } catch (error) {
      report.failed(`${label} ${target.name ?? target.id}`, error);
    } finally {
      button.disabled = false;
      report.changed();
    }
  };
  const start = h('button', { type: 'button', 'data-action': 'start', onclick: run('start', 'start') }, 'Start');
  const stop = h('button', { type: 'button', 'data-action': 'stop', onclick: run('stop', 'stop') }, 'Stop');
  const restart = h('button', { type: 'button', 'data-action': 'restart', onclick: run('restart', 'restart') }, 'Restart');
  const picker = h('select', { 'aria-label': 'signal' }, SIGNALS.map((name) => h('option', { value: name }, name)));
  const send = h('button', { type: 'button', 'data-action': 'signal', onclick: run('signal', 'signal') }, 'Send');
  const element = h('div', { class: 'actions' }, start, stop, restart, h('span', { class: 'signal' }, picker, send));
  return {
    element,
    update(process) {
      current = process;
      const running = process.pid !== null && HAS_INSTANCE.has(process.state);
      start.disabled = running || process.state === 'stopping' || process.state === 'removing';
      stop.disabled = !running && !STOPPABLE_WITHOUT_INSTANCE.has(process.state);
      restart.disabled = process.state === 'removing';
      picker.disabled = send.disabled = !running;
    },
  };
}
