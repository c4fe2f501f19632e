// The event feed: the daemon's state changes as they arrive, newest first, a bounded number.
import { h } from './dom.js';
import { clock, exitText } from './format.js';

const KEEP = 200;

export function eventFeed(list) {
  return {
    add(event) {
      const who = event.service?.name ?? event.service?.id ?? '';
      list.prepend(h('li', { class: `event event-${event.type}` }, h('time', {}, clock(event.time)), ' ', h('strong', {}, event.type), ' ', who, ' ', describe(event)));
      while (list.children.length > KEEP) list.lastElementChild.remove();
    },
    note(text) {
      list.prepend(h('li', { class: 'event event-note' }, h('time', {}, clock(new Date().toISOString())), ' ', text));
    },
  };
}

function describe(event) {
  switch (event.type) {
    case 'state':
      return `${event.from} → ${event.to}${event.pid ? ` (pid ${event.pid})` : ''}${event.reason ? `: ${event.reason}` : ''}`;
    case 'exit':
      return exitText(event.exit);
    case 'spawn-failed':
      return exitText(event.exit);
    case 'reloaded':
      return event.changed?.length ? `changed ${event.changed.join(', ')}` : '';
    case 'log-write-failed':
      return event.logs ? `${event.logs.file}: ${event.logs.droppedBytes} bytes dropped` : '';
    default:
      return '';
  }
}
