// The table of every service: one row each, kept across refreshes (so a signal picked in a
// row survives the next update), updated in place.
import { actionControls } from './actions.js';
import { h } from './dom.js';
import { bytes, NONE, percent, uptime } from './format.js';

export function servicesTable(tbody, empty, report) {
  const rows = new Map();
  return {
    update(processes) {
      const seen = new Set();
      for (const process of processes) {
        seen.add(process.id);
        let row = rows.get(process.id);
        if (row === undefined) {
          row = newRow(report);
          rows.set(process.id, row);
        }
        row.update(process);
      }
      for (const [id, row] of rows) {
        if (!seen.has(id)) {
          row.element.remove();
          rows.delete(id);
        }
      }
      tbody.replaceChildren(...processes.map((process) => rows.get(process.id).element));
      empty.hidden = processes.length > 0;
    },
  };
}

function newRow(report) {
  const cell = (className) => h('td', className === undefined ? {} : { class: className });
  const link = h('a');
  const name = h('td', {}, link);
  const state = cell();
  const health = cell();
  const pid = cell('num');
  const cpu = cell('num');
  const memory = cell('num');
  const restarts = cell('num');
  const up = cell('num');
  const controls = actionControls(report);
  const element = h('tr', {}, name, state, health, pid, cpu, memory, restarts, up, h('td', {}, controls.element));
  return {
    element,
    update(process) {
      element.dataset.service = process.name ?? process.id;
      element.dataset.state = process.state;
      link.href = `#/service/${encodeURIComponent(process.id)}`;
      link.textContent = process.name ?? process.id;
      state.replaceChildren(h('span', { class: `state state-${process.state}`, title: process.reason }, process.state));
      health.textContent = process.health ?? NONE;
      health.className = process.health === undefined ? '' : `health-${process.health}`;
      pid.textContent = process.pid ?? NONE;
      cpu.textContent = percent(process.usage?.cpuPercent);
      memory.textContent = bytes(process.usage?.memoryBytes);
      restarts.textContent = String(process.restarts);
      up.textContent = uptime(process);
      controls.update(process);
    },
  };
}
