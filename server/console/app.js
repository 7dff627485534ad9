// The sandboxer console: one script, no framework. Every view asks the daemon's
// JSON API with the token the person signed in with (kept in this tab's
// sessionStorage, sent as a bearer header), so it sees exactly what that token
// sees. Data is only ever written into the page as text, never as markup.
'use strict';

const TOKEN_KEY = 'sandboxer.token';
const STATES = ['pending', 'provisioning', 'ready', 'active', 'paused', 'destroying', 'destroyed', 'failed', 'expired'];
const LIVE = ['pending', 'provisioning', 'ready', 'active', 'paused', 'destroying'];
const PALETTE = ['#0a58ca', '#1a7f37', '#b42318', '#9a6700', '#8250df', '#0e7490', '#c2410c', '#57606a'];

const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (t) => sessionStorage.setItem(TOKEN_KEY, t),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

// ---- building the page, as text only --------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const SVG = 'http://www.w3.org/2000/svg';
function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function announce(text) {
  document.getElementById('status').textContent = text;
}

function stateBadge(state) {
  return el('span', { class: `state state-${state}` }, state);
}

function when(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return el('time', { datetime: iso, title: iso }, d.toLocaleString());
}

function untilText(iso) {
  if (!iso) return '';
  const s = Math.round((new Date(iso) - Date.now()) / 1000);
  if (s <= 0) return 'passed';
  if (s < 90) return `in ${s}s`;
  if (s < 5400) return `in ${Math.round(s / 60)}m`;
  return `in ${(s / 3600).toFixed(1)}h`;
}

// ---- the API ---------------------------------------------------------------

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(path, options = {}) {
  const headers = { Authorization: `Bearer ${token.get()}`, ...(options.headers || {}) };
  if (options.body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(path, {
    method: options.method || 'GET',
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
    signal: options.signal,
  });
  if (response.status === 401) {
    token.clear();
    route();
    throw new ApiError(401, 'the token was refused; sign in again');
  }
  if (!response.ok) {
    let message = response.statusText;
    try {
      const body = await response.json();
      message = (body.error && body.error.message) || message;
    } catch (_) { /* not JSON */ }
    throw new ApiError(response.status, message);
  }
  if (options.raw) return response;
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Follows a Server-Sent Events route (fetch, not EventSource: EventSource
// cannot send the bearer header), calling `each` with every event's data,
// resuming after the last id (`Last-Event-ID`) when the connection drops,
// until `each` answers false or the view goes.
async function follow(path, each, signal) {
  let last = null;
  let going = true;
  while (going && !signal.aborted) {
    try {
      const headers = last === null ? {} : { 'Last-Event-ID': last };
      const response = await api(path, { raw: true, signal, headers });
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      let event = {};
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, end).replace(/\r$/, '');
          buffer = buffer.slice(end + 1);
          if (line === '') {
            if (event.data !== undefined) {
              if (event.id !== undefined) last = event.id;
              if (each(JSON.parse(event.data)) === false) {
                going = false;
                reader.cancel();
                break;
              }
            }
            event = {};
          } else if (line.startsWith('data:')) {
            event.data = (event.data === undefined ? '' : `${event.data}\n`) + line.slice(5).trimStart();
          } else if (line.startsWith('id:')) {
            event.id = line.slice(3).trim();
          }
        }
      }
    } catch (error) {
      if (signal.aborted || error.status === 401) return;
    }
    if (going) await sleep(1000);
  }
}

// ---- routing ---------------------------------------------------------------

let current = null; // the AbortController of the view on screen

function route() {
  if (current) current.abort();
  current = new AbortController();
  const main = document.getElementById('main');
  main.replaceChildren();
  const signedIn = Boolean(token.get());
  document.getElementById('nav').hidden = !signedIn;
  document.getElementById('signout').hidden = !signedIn;
  if (!signedIn) {
    signIn(main);
    return;
  }
  const hash = location.hash.replace(/^#/, '') || '/';
  for (const link of document.querySelectorAll('nav a')) {
    const target = link.getAttribute('href').slice(1);
    const here = target === '/' ? hash === '/' || hash.startsWith('/sandbox/') : hash.startsWith(target);
    if (here) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  const signal = current.signal;
  const shown = hash.startsWith('/sandbox/')
    ? sandboxView(main, decodeURIComponent(hash.slice('/sandbox/'.length)), signal)
    : hash === '/hosts' ? hostsView(main, signal)
    : hash === '/spend' ? spendView(main, signal)
    : hash === '/extensions' ? extensionsView(main, signal)
    : fleetView(main, signal);
  shown.catch((error) => {
    if (signal.aborted) return;
    main.append(el('p', { class: 'error', role: 'alert' }, error.message));
  });
}

function signIn(main) {
  const input = el('input', { id: 'token', type: 'password', autocomplete: 'off', required: true });
  const problem = el('p', { class: 'error', role: 'alert' });
  const form = el('form', { class: 'signin', onsubmit: async (event) => {
    event.preventDefault();
    token.set(input.value.trim());
    try {
      await api('/v1/sandboxes?state=pending');
      announce('Signed in');
      route();
    } catch (error) {
      token.clear();
      problem.textContent = error.message;
    }
  } },
  el('label', { for: 'token' }, 'Token (as for sandboxer --token)', input),
  el('button', { type: 'submit', id: 'signin' }, 'Sign in'),
  problem);
  main.append(el('h1', {}, 'Sign in'), form);
  input.focus();
}

// ---- the fleet -------------------------------------------------------------

async function fleetView(main, signal) {
  const filters = { state: 'live', profile: '', project: '', consumer: '' };
  const body = el('tbody', { id: 'sandboxes' });
  const count = el('p', { class: 'muted', id: 'count' });
  const rows = new Map();
  const field = (name, label) => el('label', {}, label, el('input', {
    name, type: 'search', oninput: (e) => { filters[name] = e.target.value.trim(); redraw(); },
  }));
  const stateSelect = el('select', { name: 'state', onchange: (e) => { filters.state = e.target.value; redraw(); } },
    el('option', { value: 'live' }, 'live'), el('option', { value: '' }, 'any'),
    STATES.map((s) => el('option', { value: s }, s)));
  main.append(
    el('h1', {}, 'Fleet'),
    el('form', { class: 'filters', role: 'search', onsubmit: (e) => e.preventDefault() },
      el('label', {}, 'State', stateSelect), field('profile', 'Profile'), field('project', 'Project'),
      field('consumer', 'Consumer')),
    count,
    el('table', {}, el('caption', { class: 'visually-hidden' }, 'Sandboxes'),
      el('thead', {}, el('tr', {}, ['Sandbox', 'State', 'Profile', 'Project', 'Consumer', 'Expires']
        .map((h) => el('th', { scope: 'col' }, h)))),
      body));

  const shows = (s) => (filters.state === 'live' ? LIVE.includes(s.state) : !filters.state || s.state === filters.state)
    && (!filters.profile || s.profile_id.includes(filters.profile))
    && (!filters.project || s.project.includes(filters.project))
    && (!filters.consumer || s.consumer.includes(filters.consumer));
  function row(s) {
    return el('tr', { 'data-id': s.id, 'data-state': s.state },
      el('td', {}, el('a', { href: `#/sandbox/${encodeURIComponent(s.id)}` }, s.id)),
      el('td', {}, stateBadge(s.state)), el('td', {}, s.profile_id), el('td', {}, s.project),
      el('td', {}, s.consumer), el('td', {}, LIVE.includes(s.state) ? untilText(s.expires_at) : ''));
  }
  function redraw() {
    const shown = [...rows.values()].filter(shows).sort((a, b) => (a.created_at < b.created_at ? 1 : -1));
    body.replaceChildren(...shown.map(row));
    count.textContent = `${shown.length} of ${rows.size} sandboxes`;
  }
  // Where the log ends now: the stream follows from there.
  const [end, all] = await Promise.all([api('/v1/events?tail=0', { signal }), api('/v1/sandboxes', { signal })]);
  for (const s of all) rows.set(s.id, s);
  redraw();
  const changed = new Set();
  let pending = null;
  const refresh = async () => {
    pending = null;
    const ids = [...changed];
    changed.clear();
    for (const id of ids) {
      try {
        const s = await api(`/v1/sandboxes/${encodeURIComponent(id)}`, { signal });
        const fresh = !rows.has(id);
        rows.set(id, s);
        if (fresh) announce(`Sandbox ${id} appeared (${s.state})`);
      } catch (error) {
        if (error.status === 404) rows.delete(id);
      }
    }
    redraw();
  };
  const after = end.next_after === null ? '' : `?after=${end.next_after}`;
  follow(`/v1/events/stream${after}`, (event) => {
    changed.add(event.sandbox_id);
    if (!pending) pending = setTimeout(refresh, 150);
  }, signal);
}

// ---- one sandbox -----------------------------------------------------------

async function sandboxView(main, id, signal) {
  const path = `/v1/sandboxes/${encodeURIComponent(id)}`;
  const title = el('h1', {}, 'Sandbox ', el('code', {}, id));
  main.append(title);
  let record = await api(path, { signal });
  const recordBox = el('div', {});
  const actions = el('div', { class: 'actions' });
  const timeline = el('ol', { class: 'timeline', id: 'timeline', 'aria-live': 'polite' });
  const endpoints = el('ul', { id: 'endpoints' });
  const logs = el('pre', { class: 'logs', id: 'logs', tabindex: 0 });
  const problem = el('p', { class: 'error', role: 'alert' });

  function drawRecord() {
    recordBox.replaceChildren(el('dl', { class: 'record' },
      ...[['State', stateBadge(record.state)], ['Profile', `${record.profile_id} (version ${record.profile_version})`],
        ['Extension', record.extension], ['Host', record.host || '—'], ['Project', record.project],
        ['Consumer', record.consumer],
        ['Labels', Object.entries(record.labels || {}).filter(([k]) => !k.startsWith('sandboxer.'))
          .map(([k, v]) => `${k}=${v}`).join(', ') || '—'],
        ['Created', when(record.created_at)], ['Expires', when(record.expires_at)],
        ['Ceiling', when(record.ceiling_at)], ['Rate', `${record.cost_per_hour} ${record.currency}/h`],
        ['Cost so far', record.usage ? `${record.usage.cost} ${record.currency}` : '—'],
        ['Last error', record.last_error || '—']]
        .flatMap(([k, v]) => [el('dt', {}, k), el('dd', { 'data-field': k.toLowerCase() }, v)])));
    const live = LIVE.includes(record.state) && record.state !== 'destroying';
    for (const button of actions.querySelectorAll('button')) button.disabled = !live;
  }
  async function act(what, call) {
    problem.textContent = '';
    try {
      await call();
      record = await api(path, { signal });
      drawRecord();
      announce(`${what}: done`);
    } catch (error) {
      problem.textContent = `${what}: ${error.message}`;
    }
  }
  actions.append(
    el('button', { type: 'button', class: 'danger', id: 'destroy', onclick: () => {
      if (confirm(`Destroy sandbox ${id}? Its backend resources go with it.`)) {
        act('Destroy', () => api(path, { method: 'DELETE' }));
      }
    } }, 'Destroy…'),
    el('button', { type: 'button', id: 'extend', onclick: () => {
      const by = prompt('Extend the expiry by (e.g. 30m, 2h):', '30m');
      if (by) act('Extend', () => api(`${path}/extend-ttl`, { method: 'POST', body: { by } }));
    } }, 'Extend…'),
    el('button', { type: 'button', id: 'snapshot', onclick: () => {
      const name = prompt('Name of the snapshot:', `console-${new Date().toISOString().slice(0, 16).replace(/[:T]/g, '-')}`);
      if (name) act('Snapshot', () => api(`${path}/snapshot`, { method: 'POST', body: { name } }));
    } }, 'Snapshot…'));
  drawRecord();
  for (const endpoint of record.endpoints || []) {
    const item = el('li', {}, `${endpoint.name} (${endpoint.protocol}) ${endpoint.host || ''}${endpoint.port ? `:${endpoint.port}` : ''} `);
    if (endpoint.protocol === 'http' || endpoint.protocol === 'https') {
      item.append(el('button', { type: 'button', onclick: async (e) => {
        try {
          const access = await api(`${path}/endpoints/${encodeURIComponent(endpoint.name)}/access`, { signal });
          e.target.replaceWith(el('a', { href: access.url, target: '_blank', rel: 'noopener noreferrer' }, 'open (signed link)'));
        } catch (error) {
          problem.textContent = error.message;
        }
      } }, 'Get a signed link'));
    }
    endpoints.append(item);
  }
  main.append(recordBox, actions, problem,
    el('h2', {}, 'Endpoints'), record.endpoints && record.endpoints.length ? endpoints : el('p', { class: 'muted' }, 'None.'),
    el('h2', {}, 'Events'), timeline,
    el('h2', {}, 'Logs'), logs,
    el('h2', {}, 'Terminal'), terminal(path, record, signal));

  const seen = new Set();
  follow(`/v1/events/stream?sandbox=${encodeURIComponent(id)}`, async (event) => {
    if (seen.has(event.seq)) return;
    seen.add(event.seq);
    const what = event.kind === 'state' ? `${event.from_state || '∅'} → ${event.to_state}` : event.kind.replace(/_/g, ' ');
    const detail = event.detail && Object.keys(event.detail).length ? JSON.stringify(event.detail) : '';
    timeline.append(el('li', { 'data-kind': event.kind, 'data-to': event.to_state || '' },
      when(event.at), el('strong', {}, what), ` by ${event.actor} `, el('span', { class: 'muted' }, detail)));
    if (event.kind === 'state' || event.kind === 'ttl_extended') {
      try {
        record = await api(path, { signal });
        drawRecord();
      } catch (_) { /* shown on the next action */ }
    }
  }, signal);
  followLogs(`${path}/logs?follow=true&tail=200`, logs, signal);
}

async function followLogs(path, box, signal) {
  try {
    const response = await api(path, { raw: true, signal });
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      box.append(value);
      box.scrollTop = box.scrollHeight;
    }
  } catch (error) {
    if (!signal.aborted) box.textContent = `No logs: ${error.message}`;
  }
}

// A terminal on a shell in the sandbox, where its extension offers a PTY: the
// output stream shown as text (control sequences dropped), keys sent as typed.
function terminal(path, record, signal) {
  const box = el('div', {});
  const start = el('button', { type: 'button', id: 'terminal-start', onclick: async () => {
    try {
      const started = await api(`${path}/commands`, {
        method: 'POST', body: { argv: ['/bin/sh'], pty: { rows: 30, cols: 100 }, stdin: true },
      });
      const screen = el('pre', { class: 'terminal', tabindex: 0, 'aria-label': 'Terminal: type to send keys' });
      const commandPath = `${path}/commands/${encodeURIComponent(started.exec_id)}`;
      // Keys go out in order: one write at a time, carrying what was typed meanwhile.
      let typed = '';
      let writing = null;
      const flush = async () => {
        while (typed) {
          const data = typed;
          typed = '';
          await api(`${commandPath}/stdin`, { method: 'POST', body: { data: toBase64(data) } }).catch(() => {});
        }
        writing = null;
      };
      screen.addEventListener('keydown', (event) => {
        const keys = event.key === 'Enter' ? '\r' : event.key === 'Backspace' ? '\x7f' : event.key === 'Tab' ? '\t'
          : event.ctrlKey && event.key.length === 1 ? String.fromCharCode(event.key.toUpperCase().charCodeAt(0) - 64)
          : event.key.length === 1 ? event.key : null;
        if (keys === null) return;
        event.preventDefault();
        typed += keys;
        if (!writing) writing = flush();
      });
      start.replaceWith(screen);
      screen.focus();
      follow(`${commandPath}/output`, (chunk) => {
        const text = chunk.event === 'output' ? fromBase64(chunk.data)
          : chunk.event === 'exited' ? `\n[exited ${chunk.exit_code}]\n` : '';
        screen.append(text.replace(/\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r/g, ''));
        screen.scrollTop = screen.scrollHeight;
        return chunk.event !== 'exited';
      }, signal);
    } catch (error) {
      box.append(el('p', { class: 'error' }, error.message));
    }
  } }, 'Open a shell');
  box.append(LIVE.includes(record.state) ? start : el('p', { class: 'muted' }, 'The sandbox is not running.'));
  return box;
}

function toBase64(text) {
  return btoa(String.fromCharCode(...new TextEncoder().encode(text)));
}

function fromBase64(data) {
  return new TextDecoder().decode(Uint8Array.from(atob(data), (c) => c.charCodeAt(0)));
}

// ---- hosts -----------------------------------------------------------------

async function hostsView(main, signal) {
  main.append(el('h1', {}, 'Hosts'));
  let report;
  try {
    report = await api('/v1/hosts?since=24h&series=true', { signal });
  } catch (error) {
    if (error.status === 403) {
      main.append(el('p', {}, 'Hosts are shown to admins only.'));
      return;
    }
    throw error;
  }
  main.append(el('table', { id: 'hosts' },
    el('thead', {}, el('tr', {}, ['Extension', 'Host', 'Reachable', 'Load', 'Memory free', 'Disk free', 'Sandboxes', 'Canaries ok']
      .map((h) => el('th', { scope: 'col' }, h)))),
    el('tbody', {}, report.hosts.map((h) => el('tr', {},
      el('td', {}, h.extension), el('td', {}, h.host),
      el('td', {}, h.reachable ? 'yes' : el('span', { class: 'error' }, `no${h.error ? `: ${h.error}` : ''}`)),
      el('td', { class: 'num' }, h.load1 ?? '—'), el('td', { class: 'num' }, h.mem_free_mb === null ? '—' : `${h.mem_free_mb} MB`),
      el('td', { class: 'num' }, h.disk_free_mb === null ? '—' : `${h.disk_free_mb} MB`),
      el('td', { class: 'num' }, h.sandboxes ?? '—'), el('td', { class: 'num' }, `${h.canaries_ok}/${h.canaries}`))))));
  const reachable = report.hosts.filter((h) => (h.series || []).some((p) => p.reachable));
  for (const [key, label, unit] of [['load1', 'Load (1 min)', ''], ['mem_free_mb', 'Memory free', ' MB'],
    ['disk_free_mb', 'Disk free', ' MB'], ['sandboxes', 'Sandboxes running', '']]) {
    const lines = reachable.map((h) => ({
      name: `${h.extension} ${h.host}`,
      points: h.series.filter((p) => p[key] !== null).map((p) => [Date.parse(p.at), p[key]]),
    })).filter((l) => l.points.length);
    main.append(el('h2', {}, label), lines.length ? lineChart(lines, unit) : el('p', { class: 'muted' }, 'No samples yet.'));
  }
}

function lineChart(lines, unit) {
  const width = 720;
  const height = 200;
  const pad = 40;
  const xs = lines.flatMap((l) => l.points.map((p) => p[0]));
  const ys = lines.flatMap((l) => l.points.map((p) => p[1]));
  const [x0, x1] = [Math.min(...xs), Math.max(...xs, Math.min(...xs) + 1)];
  const y1 = Math.max(...ys, 1);
  const x = (t) => pad + ((t - x0) / (x1 - x0)) * (width - 2 * pad);
  const y = (v) => height - pad / 2 - (v / y1) * (height - pad);
  const chart = svg('svg', { class: 'chart', viewBox: `0 0 ${width} ${height}`, role: 'img',
    'aria-label': `${lines.length} series up to ${y1}${unit}` },
  svg('line', { x1: pad, y1: y(0), x2: width - pad, y2: y(0), stroke: '#d0d7de' }),
  svg('text', { x: 2, y: y(y1) + 4 }, `${y1}${unit}`), svg('text', { x: 2, y: y(0) }, '0'),
  lines.map((l, i) => svg('polyline', { fill: 'none', stroke: PALETTE[i % PALETTE.length], 'stroke-width': 2,
    points: l.points.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(' ') })));
  return el('figure', {}, chart, legend(lines.map((l) => l.name)));
}

function legend(names) {
  return el('figcaption', { class: 'legend' }, names.map((name, i) => {
    const item = el('span', {}, name);
    item.style.setProperty('--swatch', PALETTE[i % PALETTE.length]);
    return item;
  }));
}

// ---- spend -----------------------------------------------------------------

async function spendView(main, signal) {
  const choice = { by: 'project', days: 7 };
  const out = el('div', { id: 'spend' });
  const by = el('select', { name: 'by', onchange: (e) => { choice.by = e.target.value; draw(); } },
    ['project', 'consumer', 'profile', 'extension'].map((g) => el('option', { value: g }, g)));
  const days = el('select', { name: 'days', onchange: (e) => { choice.days = Number(e.target.value); draw(); } },
    [7, 30].map((d) => el('option', { value: d }, `${d} days`)));
  const csv = el('button', { type: 'button', id: 'csv', onclick: async () => {
    const since = dayStart(choice.days - 1).toISOString();
    const response = await api(`/v1/usage?by=${choice.by}&since=${encodeURIComponent(since)}&format=csv`, { raw: true });
    const link = el('a', { href: URL.createObjectURL(await response.blob()), download: `usage-by-${choice.by}.csv` });
    document.body.append(link);
    link.click();
    link.remove();
  } }, 'Export CSV');
  main.append(el('h1', {}, 'Spend'),
    el('form', { class: 'filters', onsubmit: (e) => e.preventDefault() },
      el('label', {}, 'By', by), el('label', {}, 'Over', days), csv),
    out);
  async function draw() {
    out.replaceChildren(el('p', { class: 'muted' }, 'Reading the ledger…'));
    const dayList = [...Array(choice.days).keys()].reverse();
    const ledgers = await Promise.all(dayList.map((ago) => api(
      `/v1/usage?by=${choice.by}&since=${encodeURIComponent(dayStart(ago).toISOString())}&until=${encodeURIComponent(dayStart(ago - 1).toISOString())}`,
      { signal })));
    const total = await api(`/v1/usage?by=${choice.by}&since=${encodeURIComponent(dayStart(choice.days - 1).toISOString())}`, { signal });
    const keys = [...new Set(total.groups.map((g) => g.key))];
    const bars = ledgers.map((ledger, i) => ({
      label: dayStart(dayList[i]).toISOString().slice(5, 10),
      parts: keys.map((k) => ledger.groups.filter((g) => g.key === k).reduce((sum, g) => sum + Number(g.cost), 0)),
    }));
    out.replaceChildren(el('h2', {}, `Cost per day by ${choice.by}`), keys.length ? barChart(bars, keys) : el('p', { class: 'muted' }, 'Nothing spent.'),
      el('h2', {}, 'Totals'),
      el('table', { id: 'totals' },
        el('thead', {}, el('tr', {}, [choice.by, 'Sandboxes', 'Sandbox hours', 'Cost'].map((h) => el('th', { scope: 'col' }, h)))),
        el('tbody', {}, total.groups.map((g) => el('tr', {}, el('td', {}, g.key), el('td', { class: 'num' }, g.sandboxes),
          el('td', { class: 'num' }, (Number(g.sandbox_seconds) / 3600).toFixed(2)), el('td', { class: 'num' }, `${g.cost} ${g.currency}`))))),
      el('h2', {}, 'Budgets'),
      total.budgets && total.budgets.length
        ? el('table', { id: 'budgets' },
          el('thead', {}, el('tr', {}, ['Budget', 'Period', 'Spent', 'Left', 'Of', 'When spent'].map((h) => el('th', { scope: 'col' }, h)))),
          el('tbody', {}, total.budgets.map((b) => el('tr', {},
            el('td', {}, b.budget), el('td', {}, b.period),
            el('td', {}, el('meter', { min: 0, max: b.amount, value: b.spent, low: Number(b.amount) * 0.8, high: Number(b.amount) * 0.95,
              optimum: 0, 'aria-label': `${b.spent} of ${b.amount} ${b.currency} spent` }), ` ${b.spent}`),
            el('td', { class: 'num' }, `${b.left} ${b.currency}`), el('td', { class: 'num' }, b.amount), el('td', {}, b.policy)))))
        : el('p', { class: 'muted' }, 'No budget covers these projects.'));
  }
  await draw();
}

function dayStart(ago) {
  const d = new Date();
  d.setHours(0, 0, 0, 0);
  d.setDate(d.getDate() - ago);
  return d;
}

function barChart(bars, keys) {
  const width = 720;
  const height = 220;
  const pad = 40;
  const top = Math.max(...bars.map((b) => b.parts.reduce((a, c) => a + c, 0)), 1e-9);
  const slot = (width - 2 * pad) / bars.length;
  const chart = svg('svg', { class: 'chart', viewBox: `0 0 ${width} ${height}`, role: 'img',
    'aria-label': `cost per day, highest ${top.toFixed(4)}` },
  svg('text', { x: 2, y: 14 }, top.toFixed(4)),
  bars.map((bar, i) => {
    let y = height - pad;
    return svg('g', {}, bar.parts.map((part, k) => {
      const h = (part / top) * (height - pad - 20);
      y -= h;
      return svg('rect', { x: pad + i * slot + 2, y, width: Math.max(slot - 4, 1), height: h, fill: PALETTE[k % PALETTE.length] },
        svg('title', {}, `${bar.label} ${keys[k]}: ${part.toFixed(6)}`));
    }), svg('text', { x: pad + i * slot + 2, y: height - pad + 14 }, bars.length <= 10 || i % 5 === 0 ? bar.label : ''));
  }));
  return el('figure', {}, chart, legend(keys));
}

// ---- extensions ------------------------------------------------------------

async function extensionsView(main, signal) {
  const extensions = await api('/v1/extensions', { signal });
  main.append(el('h1', {}, 'Extensions'),
    el('table', { id: 'extensions' },
      el('thead', {}, el('tr', {}, ['Extension', 'Version', 'Protocol', 'Handshake', 'Methods', 'Features']
        .map((h) => el('th', { scope: 'col' }, h)))),
      el('tbody', {}, extensions.map((x) => el('tr', {},
        el('td', {}, x.name), el('td', {}, x.version || '—'), el('td', {}, x.protocol_version || '—'),
        el('td', {}, x.handshake === 'ok' ? 'ok' : el('span', { class: 'error' }, x.handshake)),
        el('td', {}, x.methods ? el('details', {}, el('summary', {}, `${x.methods.length} methods`), x.methods.join(', ')) : '—'),
        el('td', {}, (x.features || []).join(', ')))))));
  const profiles = await api('/v1/profiles', { signal });
  const pick = el('select', { id: 'profile', onchange: () => matrix(pick.value) },
    el('option', { value: '' }, 'choose a profile'), profiles.map((p) => el('option', { value: p.id }, p.id)));
  const grid = el('div', { id: 'guarantees' });
  main.append(el('h2', {}, 'Guarantees per profile'), el('label', {}, 'Profile', pick), grid);
  async function matrix(id) {
    grid.replaceChildren();
    if (!id) return;
    const found = await api(`/v1/profiles/${encodeURIComponent(id)}/guarantees`, { signal });
    const usable = found.candidates.filter((c) => !c.error);
    const rows = usable.length ? usable[0].verdicts.map((v, i) => el('tr', {},
      el('th', { scope: 'row' }, v.guarantee), el('td', {}, v.asked), usable.map((c) => el('td', {}, c.verdicts[i].support)))) : [];
    grid.append(el('table', {},
      el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Guarantee'), el('th', { scope: 'col' }, 'Asked'),
        usable.map((c) => el('th', { scope: 'col' }, c.extension)))),
      el('tbody', {}, rows)),
    found.candidates.filter((c) => c.error).map((c) => el('p', { class: 'muted' }, `${c.extension}: not asked: ${c.error}`)));
  }
}

// ---- start -----------------------------------------------------------------

document.getElementById('signout').addEventListener('click', () => {
  token.clear();
  location.hash = '#/';
  route();
});
window.addEventListener('hashchange', route);
route();
