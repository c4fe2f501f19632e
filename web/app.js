// The dashboard: signs the browser in (a ticket from the URL fragment, or the token typed
// in), then shows every service live. State changes arrive on the event stream
// (EventSource resumes by itself with Last-Event-ID); resource figures, which change
// without events, are read again every few seconds while the page is visible.
import * as api from './api.js';
import { byId } from './dom.js';
import { eventFeed } from './feed.js';
import { servicePage } from './service.js';
import { servicesTable } from './services.js';

const USAGE_REFRESH_MS = 2000;
const EVENT_TYPES = ['created', 'state', 'exit', 'spawn-failed', 'log-write-failed', 'reloaded', 'removed', 'health', 'status'];

const sections = { signIn: byId('sign-in'), list: byId('list'), service: byId('service'), feed: byId('feed-panel') };
const notice = byId('notice');
const live = byId('live');
const feed = eventFeed(byId('feed'));

const report = {
  done(what) {
    say(`${what}: done`, false);
  },
  failed(what, error) {
    const stale = error.code === 'PIDVISOR_ERR_INSTANCE_MISMATCH' || error.code === 'PIDVISOR_ERR_NOT_RUNNING';
    say(`${what}: ${error.message}${stale ? ' (the page was behind; it shows the current state now)' : ''}`, true);
  },
  changed: () => refreshSoon(),
};
const table = servicesTable(byId('services'), byId('empty'), report);
const page = servicePage(sections.service, report);

let events = null;
let usageTimer = null;
let refreshTimer = null;
let openServiceId = null;

let noticeTimer = null;

/** A line above the page: a success fades after a few seconds, an error stays until the next. */
function say(text, isError) {
  clearTimeout(noticeTimer);
  notice.textContent = text;
  notice.classList.toggle('error', isError);
  notice.hidden = false;
  if (!isError) noticeTimer = setTimeout(() => (notice.hidden = true), 4000);
}

/** Spends a ticket in the URL fragment, if there is one; returns why it failed, or null. */
async function signInFromFragment() {
  const match = /^#ticket=([A-Za-z0-9_-]+)$/.exec(location.hash);
  if (match === null) return null;
  // The ticket leaves the address bar (and this history entry) before it is even spent.
  history.replaceState(null, '', `${location.pathname}#/`);
  try {
    await api.signInWithTicket(match[1]);
    return null;
  } catch (error) {
    return `That link no longer works (${error.message}).`;
  }
}

function showSignIn(message) {
  stopLive();
  for (const section of [sections.list, sections.service, sections.feed]) section.hidden = true;
  sections.signIn.hidden = false;
  byId('sign-out').hidden = true;
  const error = byId('sign-in-error');
  error.textContent = message ?? '';
  error.hidden = message === undefined;
}

/** Shows the services if the browser is signed in, else the sign-in form (with `failure`, why a link did not work). */
async function start(failure = null) {
  let system;
  try {
    system = await api.system();
  } catch (error) {
    if (error.status === 401) return showSignIn(failure ?? undefined);
    return say(`cannot reach the daemon: ${error.message}`, true);
  }
  byId('daemon').textContent = `v${system.version} · pid ${system.pid} · ${system.kernel}`;
  sections.signIn.hidden = true;
  sections.feed.hidden = false;
  byId('sign-out').hidden = false;
  startLive();
  await route();
}

function startLive() {
  stopLive();
  events = new EventSource('/v1/events');
  events.addEventListener('open', () => setLive('live'));
  events.addEventListener('error', () => {
    if (events.readyState === EventSource.CLOSED) {
      setLive('off');
      // Refused (a session that ended), not a broken connection: EventSource gives up then.
      api.system().then(() => setTimeout(() => startLive(), 1000), (error) => error.status === 401 && showSignIn('The session ended; sign in again.'));
      return;
    }
    setLive('reconnecting');
  });
  for (const type of EVENT_TYPES) {
    events.addEventListener(type, (message) => {
      feed.add(JSON.parse(message.data));
      refreshSoon();
    });
  }
  for (const type of ['gap', 'reset']) {
    events.addEventListener(type, () => {
      feed.note(type === 'gap' ? 'some events were missed; showing the current state' : 'the daemon restarted');
      refreshSoon();
    });
  }
  usageTimer = setInterval(() => {
    if (document.visibilityState === 'visible') refreshSoon();
  }, USAGE_REFRESH_MS);
}

function stopLive() {
  events?.close();
  events = null;
  clearInterval(usageTimer);
  usageTimer = null;
  page.close();
  openServiceId = null;
  setLive('off');
}

function setLive(state) {
  live.dataset.live = state;
  live.textContent = state === 'live' ? 'live' : state === 'reconnecting' ? 'reconnecting…' : 'offline';
}

/** Coalesces the refreshes that a burst of events asks for into one. */
function refreshSoon() {
  if (refreshTimer !== null || events === null) return;
  refreshTimer = setTimeout(async () => {
    refreshTimer = null;
    try {
      if (openServiceId === null) table.update(await api.processes());
      else await page.refresh(openServiceId);
    } catch (error) {
      if (error.status === 401) showSignIn('The session ended; sign in again.');
      else if (error.code === 'PIDVISOR_ERR_NOT_FOUND') location.hash = '#/';
      else say(`refresh failed: ${error.message}`, true);
    }
  }, 150);
}

async function route() {
  if (events === null) return;
  const match = /^#\/service\/(.+)$/.exec(location.hash);
  const id = match === null ? null : decodeURIComponent(match[1]);
  sections.list.hidden = id !== null;
  sections.service.hidden = id === null;
  if (id === openServiceId && id !== null) return;
  page.close();
  openServiceId = id;
  try {
    if (id === null) table.update(await api.processes());
    else await page.open(id);
  } catch (error) {
    if (error.status === 401) showSignIn();
    else say(error.message, true);
  }
}

byId('sign-in-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const input = byId('token');
  try {
    await api.signInWithToken(input.value.trim());
  } catch (error) {
    return showSignIn(`Not signed in: ${error.message}`);
  } finally {
    input.value = '';
  }
  await start();
});

byId('sign-out').addEventListener('click', async () => {
  await api.signOut().catch(() => {});
  showSignIn('Signed out.');
});

window.addEventListener('hashchange', async () => {
  if (!location.hash.startsWith('#ticket=')) return route();
  await start(await signInFromFragment());
});
await start(await signInFromFragment());
