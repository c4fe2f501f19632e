// One service's page: its state and instance, actions, resource usage, definition, process
// tree, exit history, and its output followed live.
import { actionControls } from './actions.js';
import { followLogs, inspect } from './api.js';
import { h } from './dom.js';
import { bytes, dateTime, duration, exitText, NONE, percent, uptime } from './format.js';

const MAX_LOG_LINES = 2000;

export function servicePage(section, report) {
  let following = null;
  let current = null;
  const controls = actionControls(report);
  const title = h('h1');
  const facts = h('dl', { class: 'facts' });
  const definition = h('pre', { class: 'definition' });
  const tree = h('tbody');
  const exits = h('tbody');
  const logState = h('span', { class: 'muted' });
  const log = h('pre', { class: 'log', id: 'log', 'aria-live': 'off' });
  section.replaceChildren(
    h('p', {}, h('a', { href: '#/' }, '← all services')),
    title,
    controls.element,
    facts,
    h('h2', {}, 'Output ', logState),
    log,
    h('h2', {}, 'Exits (oldest first)'),
    h('table', {}, h('thead', {}, h('tr', {}, ['Ended', 'PID', 'How', 'Ran'].map((name) => h('th', {}, name)))), exits),
    h('h2', {}, 'Processes'),
    h('table', {}, h('thead', {}, h('tr', {}, ['PID', 'PPID', 'Command'].map((name) => h('th', {}, name)))), tree),
    h('h2', {}, 'Definition'),
    definition,
  );

  function showInspection({ process, spec, tree: processes, exits: history }) {
    current = process;
    title.textContent = process.name ?? process.id;
    controls.update(process);
    const fact = (term, value) => [h('dt', {}, term), h('dd', {}, value ?? NONE)];
    facts.replaceChildren(
      ...fact('State', `${process.state} (${process.reason})`),
      ...fact('Health', process.health ?? NONE),
      ...fact('PID', process.pid),
      ...fact('Instance', process.instance),
      ...fact('Started', dateTime(process.startedAt)),
      ...fact('Uptime', uptime(process)),
      ...fact('Restarts', String(process.restarts)),
      ...fact('CPU', percent(process.usage?.cpuPercent)),
      ...fact('Memory', bytes(process.usage?.memoryBytes)),
      ...fact('Tasks', process.usage?.tasks ?? NONE),
      ...fact('Open fds', process.usage?.fds ?? NONE),
      ...fact('Kill mode', process.killMode),
    );
    definition.textContent = JSON.stringify(spec, null, 2);
    tree.replaceChildren(...processes.map((p) => h('tr', {}, h('td', { class: 'num' }, p.pid), h('td', { class: 'num' }, p.ppid), h('td', { class: 'wrap' }, p.command.join(' ')))));
    exits.replaceChildren(
      ...history.map((exit) => h('tr', {}, h('td', {}, dateTime(exit.endedAt)), h('td', { class: 'num' }, exit.pid ?? NONE), h('td', { class: 'wrap' }, exitText(exit)), h('td', { class: 'num' }, duration(exit.uptimeMs)))),
    );
  }

  function appendRecord(record) {
    const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    log.append(h('span', { class: `line ${record.stream}`, title: `${record.time} ${record.stream}` }, record.text, record.partial ? '' : '\n'));
    while (log.childElementCount > MAX_LOG_LINES) log.firstElementChild.remove();
    if (atBottom) log.scrollTop = log.scrollHeight;
  }

  return {
    async open(id) {
      this.close();
      log.replaceChildren();
      title.textContent = id;
      const abort = new AbortController();
      following = abort;
      await this.refresh(id);
      logState.textContent = '(connecting)';
      followLogs(id, appendRecord, abort.signal, (state) => (logState.textContent = `(${state})`)).catch((error) => {
        logState.textContent = error.code === 'PIDVISOR_ERR_LOGS_NOT_CAPTURED' ? '(not captured)' : `(${error.message})`;
      });
    },
    async refresh(id = current?.id) {
      if (id === undefined) return;
      showInspection(await inspect(id));
    },
    get id() {
      return current?.id;
    },
    close() {
      following?.abort();
      following = null;
      current = null;
    },
  };
}
