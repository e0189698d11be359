// ziaxdr console: a dependency-free single-page app. Every request goes to this server's
// /api/v1 routes; the page state (query, time range, filters) lives in the URL.

const $ = (sel, root = document) => root.querySelector(sel);

/** Unicode direction controls (U+202E…) shown as visible escapes: raw, they make
 * `evil\u202egnp.exe` display as another name. */
const BIDI = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
function visible(text) {
  return text.replace(BIDI, (c) => '⟦U+' + c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0') + '⟧');
}

/** Builds an element: h('a', {href: '/x', onclick: f}, 'text', child, ...). Text is shown
 * with its direction controls escaped (see `visible`). */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (v === true) el.setAttribute(k, '');
    else if (k === 'title') el.setAttribute(k, visible(String(v)));
    else el.setAttribute(k, v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(visible(String(c))));
  }
  return el;
}

const SVG = 'http://www.w3.org/2000/svg';
function s(tag, attrs = {}) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}

let session = null; // {user, role, csrf}

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

/** Calls the API; JSON in and out. A 401 sends the browser to the sign-in page. */
async function api(method, path, body, raw = false, tries = 3) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (session && session.csrf && method !== 'GET') headers['X-CSRF-Token'] = session.csrf;
  const res = await fetch(path, {
    method, headers, credentials: 'same-origin',
    body: body === undefined ? undefined : (raw ? body : JSON.stringify(body)),
  });
  if (res.status === 401 && !path.startsWith('/api/v1/session')) {
    session = null;
    go('/console/login?next=' + encodeURIComponent(location.pathname + location.search), true);
    throw new ApiError(401, 'signed out');
  }
  // The server runs a few searches per user at once (429 beyond); those of a page just left
  // may still be running, so a search waits a moment and asks again.
  if (res.status === 429 && tries > 1 && path.startsWith('/api/v1/events/')) {
    await new Promise((r) => setTimeout(r, 500));
    return api(method, path, body, raw, tries - 1);
  }
  if (res.status === 204) return null;
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { error: text }; }
  if (!res.ok) throw new ApiError(res.status, (data && (data.error || data.message)) || res.statusText);
  return data;
}

/** Appends children, skipping the null/false of conditional parts (DOM append would print them). */
function put(parent, ...kids) {
  parent.append(...kids.flat(Infinity).filter((k) => k !== null && k !== undefined && k !== false));
}

function toast(msg) {
  const t = $('#toast');
  t.textContent = msg;
  t.classList.add('show');
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => t.classList.remove('show'), 2500);
}

async function copy(text) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const ta = h('textarea', {}, text);
    document.body.append(ta);
    ta.select();
    document.execCommand('copy');
    ta.remove();
  }
  toast('Copied');
}

function copyRow(label, value) {
  return h('div', { class: 'copyrow' },
    label ? h('span', { class: 'muted', style: 'min-width:11em' }, label) : null,
    h('code', {}, value),
    h('button', { type: 'button', class: 'small', 'aria-label': 'Copy ' + (label || 'value'), onclick: () => copy(value) }, 'Copy'));
}

function fmtTime(t) {
  if (!t) return '–';
  const d = new Date(t);
  if (isNaN(d)) return String(t);
  return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

function ago(t) {
  if (!t) return 'never';
  const sec = Math.round((Date.now() - new Date(t)) / 1000);
  if (sec < 60) return sec + ' s ago';
  if (sec < 3600) return Math.round(sec / 60) + ' min ago';
  if (sec < 86400) return Math.round(sec / 3600) + ' h ago';
  return Math.round(sec / 86400) + ' d ago';
}

/** `1800` → `30 min`. */
function interval(sec) {
  if (sec % 86400 === 0) return sec / 86400 + ' d';
  if (sec % 3600 === 0) return sec / 3600 + ' h';
  if (sec % 60 === 0) return sec / 60 + ' min';
  return sec + ' s';
}

function urgencyBand(u) {
  return u >= 80 ? 'critical' : u >= 60 ? 'high' : u >= 40 ? 'medium' : 'low';
}

function can(role) {
  const rank = { 'read-only': 0, analyst: 1, admin: 2 };
  return session && rank[session.role] >= rank[role];
}

function errorBox(e) {
  return h('p', { class: 'error', role: 'alert' }, e instanceof Error ? e.message : String(e));
}

// ---- routing ----

const routes = [
  [/^\/console\/login$/, pageLogin],
  [/^\/console\/?$/, pageOverview],
  [/^\/console\/events$/, pageEvents],
  [/^\/console\/alerts$/, pageAlerts],
  [/^\/console\/alerts\/([^/]+)$/, pageAlert],
  [/^\/console\/intakes$/, pageIntakes],
  [/^\/console\/intakes\/([^/]+)$/, pageIntake],
  [/^\/console\/rules$/, pageRules],
  [/^\/console\/cti$/, pageCti],
  [/^\/console\/settings$/, pageSettings],
];

let cleanup = [];

function go(url, replace = false) {
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  render();
}

async function render() {
  cleanup.forEach((f) => f());
  cleanup = [];
  const path = location.pathname;
  const main = $('#main');
  if (!session && path !== '/console/login') {
    try {
      session = await api('GET', '/api/v1/session');
    } catch (e) {
      if (e.status !== 401) { main.replaceChildren(errorBox(e)); }
      return;
    }
  }
  $('#top').hidden = !session || path === '/console/login';
  if (session) $('#who').textContent = `${session.user} (${session.role})`;
  for (const a of document.querySelectorAll('header nav a')) {
    const page = a.dataset.page;
    const active = (page === 'overview' && /^\/console\/?$/.test(path)) || (page !== 'overview' && path.startsWith('/console/' + page));
    if (active) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  for (const [re, page] of routes) {
    const m = path.match(re);
    if (m) {
      main.replaceChildren();
      try {
        await page(main, ...m.slice(1).map(decodeURIComponent));
      } catch (e) {
        if (e.status !== 401) put(main, errorBox(e));
      }
      return;
    }
  }
  main.replaceChildren(h('h1', {}, 'Not found'), h('p', {}, h('a', { href: '/console/', 'data-nav': true }, 'Back to the overview')));
}

document.addEventListener('click', (ev) => {
  const a = ev.target.closest('a');
  if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey) return;
  const url = new URL(a.href, location.href);
  if (url.origin === location.origin && url.pathname.startsWith('/console') && !a.hasAttribute('download')) {
    ev.preventDefault();
    go(url.pathname + url.search);
  }
});
window.addEventListener('popstate', render);
document.addEventListener('keydown', (ev) => {
  if (ev.key === '/' && !/INPUT|TEXTAREA|SELECT/.test(document.activeElement.tagName)) {
    const q = $('input.query');
    if (q) { ev.preventDefault(); q.focus(); }
  }
});

$('#signout').addEventListener('click', async () => {
  try { await api('DELETE', '/api/v1/session'); } catch { /* already gone */ }
  session = null;
  go('/console/login');
});

// ---- sign-in ----

async function pageLogin(main) {
  document.title = 'Sign in · ziaxdr';
  const next = new URLSearchParams(location.search).get('next') || '/console/';
  const err = h('p', { class: 'error', role: 'alert' });
  const user = h('input', { type: 'text', id: 'user', name: 'user', autocomplete: 'username', required: true, autofocus: true });
  const pass = h('input', { type: 'password', id: 'password', name: 'password', autocomplete: 'current-password', required: true });
  const form = h('form', { class: 'panel login', onsubmit: async (ev) => {
    ev.preventDefault();
    err.textContent = '';
    try {
      session = await api('POST', '/api/v1/session', { user: user.value, password: pass.value });
      go(next.startsWith('/console') ? next : '/console/', true);
    } catch (e) {
      err.textContent = e.message;
    }
  } },
  h('h1', {}, 'Sign in to ziaxdr'),
  h('label', { for: 'user' }, 'User'), user,
  h('label', { for: 'password' }, 'Password'), pass,
  err,
  h('p', {}, h('button', { type: 'submit', class: 'primary' }, 'Sign in')),
  h('p', { class: 'muted' }, 'The first start of the server prints the admin password once.'));
  put(main, form);
  user.focus();
}

// ---- charts ----

/** A bar chart of counts; `brush(fromIndex, toIndex)` is called when the user drags over it. */
function barChart(values, { height = 120, labels = [], brush = null, cls = 'chart', title = '' } = {}) {
  const W = 1000, H = height, pad = 2;
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', class: cls, role: 'img', 'aria-label': title });
  const max = Math.max(1, ...values);
  const n = Math.max(1, values.length);
  const bw = W / n;
  values.forEach((v, i) => {
    const bh = (v / max) * (H - pad - 2);
    const r = s('rect', { class: 'bar', x: i * bw + 0.5, y: H - pad - bh, width: Math.max(1, bw - 1), height: bh });
    const t = s('title');
    t.textContent = (labels[i] ? labels[i] + ': ' : '') + v;
    r.append(t);
    svg.append(r);
  });
  let axis = null;
  if (brush && labels.length) {
    // Time labels in HTML under the chart: SVG text would stretch with the chart's width.
    axis = h('div', { class: 'axis' }, [0, Math.floor(n / 2), n - 1].map((i) => h('span', {}, fmtTime(labels[i]))));
    const sel = s('rect', { class: 'brush', x: 0, y: 0, width: 0, height: H - pad, visibility: 'hidden' });
    svg.append(sel);
    let x0 = null;
    const xOf = (ev) => {
      const b = svg.getBoundingClientRect();
      return Math.max(0, Math.min(W, ((ev.clientX - b.left) / b.width) * W));
    };
    svg.addEventListener('pointerdown', (ev) => { x0 = xOf(ev); svg.setPointerCapture(ev.pointerId); sel.setAttribute('visibility', 'visible'); sel.setAttribute('x', x0); sel.setAttribute('width', 0); });
    svg.addEventListener('pointermove', (ev) => {
      if (x0 === null) return;
      const x = xOf(ev);
      sel.setAttribute('x', Math.min(x, x0));
      sel.setAttribute('width', Math.abs(x - x0));
    });
    svg.addEventListener('pointerup', (ev) => {
      if (x0 === null) return;
      const x1 = xOf(ev);
      const a = Math.min(x0, x1), b = Math.max(x0, x1);
      x0 = null;
      sel.setAttribute('visibility', 'hidden');
      if (b - a < 4) return;
      brush(Math.floor(a / bw), Math.min(n - 1, Math.floor(b / bw)));
    });
  }
  return axis ? h('div', {}, svg, axis) : svg;
}

// ---- overview ----

async function pageOverview(main) {
  document.title = 'Overview · ziaxdr';
  put(main, h('h1', {}, 'Overview'));
  const body = h('div');
  put(main, body);
  const load = async () => {
    const o = await api('GET', '/api/v1/overview');
    const a = o.alerts || {};
    const urg = a.by_urgency || {};
    const st = a.by_status || {};
    const cards = h('div', { class: 'grid' },
      h('div', { class: 'panel card' }, h('div', { class: 'muted' }, 'Open alerts'), h('div', { class: 'big' }, h('a', { href: '/console/alerts?open=1' }, a.open || 0)),
        h('div', { class: 'row' }, ['critical', 'high', 'medium', 'low'].map((b) => h('a', { class: 'badge ' + b, href: `/console/alerts?open=1&urgency=${b}` }, `${b} ${urg[b] || 0}`)))),
      h('div', { class: 'panel card' }, h('div', { class: 'muted' }, 'Alerts by status'),
        h('div', { class: 'row' }, Object.keys(st).length ? Object.entries(st).map(([k, v]) => h('a', { class: 'badge', href: `/console/alerts?status=${k}` }, `${k} ${v}`)) : h('span', { class: 'muted' }, 'none'))),
      h('div', { class: 'panel card' }, h('div', { class: 'muted' }, 'Events, last 24 h'), h('div', { class: 'big' }, h('a', { href: '/console/events?since=24h' }, (o.totals.events_24h || 0).toLocaleString('en')))),
      h('div', { class: 'panel card' }, h('div', { class: 'muted' }, 'Parse failures, last 24 h'),
        h('div', { class: 'big' }, h('a', { href: '/console/events?since=24h&q=' + encodeURIComponent('event.kind:pipeline_error') }, (o.totals.parse_failures_24h || 0).toLocaleString('en')))));
    const intakes = h('div', {}, h('h2', {}, `Events per minute, last ${o.minutes} minutes`));
    if (!o.intakes.length) intakes.append(h('p', { class: 'muted' }, 'No intake yet. ', h('a', { href: '/console/intakes' }, 'Create one')));
    for (const row of o.intakes) {
      const i = row.intake;
      const labels = row.per_minute.map((_, k) => new Date(Date.now() - (row.per_minute.length - k) * 60000).toISOString());
      intakes.append(h('div', { class: 'panel' },
        h('div', { class: 'row' },
          h('strong', {}, h('a', { href: '/console/intakes/' + i.uuid }, i.name)),
          h('span', { class: 'muted' }, i.entity),
          i.status !== 'enabled' ? h('span', { class: 'badge' }, 'disabled') : null,
          i.silent ? h('span', { class: 'badge silent', title: 'no event for 15 minutes' }, 'silent') : h('span', { class: 'badge ok' }, 'receiving'),
          h('span', { class: 'grow' }),
          h('span', {}, `last event ${ago(i.last_seen)}`),
          h('span', { class: 'muted' }, `${i.events_per_minute.toFixed(1)}/min · rejected ${i.live.rejected} · failed 24 h ${i.failed_24h}`)),
        (i.drift || []).map((d) => h('div', { class: 'row drift' }, h('span', { class: 'badge bad' }, 'format drift'),
          h('a', { href: '/console/intakes/' + i.uuid + '#drift' }, d.message))),
        barChart(row.per_minute, { height: 40, cls: 'spark', labels, title: `events per minute of ${i.name}` })));
    }
    body.replaceChildren(cards, intakes, h('p', { class: 'muted' }, `Updated ${fmtTime(o.now)}; refreshes every 15 s.`));
  };
  await load();
  const timer = setInterval(() => load().catch(() => {}), 15000);
  cleanup.push(() => clearInterval(timer));
}

// ---- events ----

const DEFAULT_COLUMNS = ['@timestamp', 'event.dataset', 'event.action', 'user.name', 'source.ip', 'destination.domain', 'url.original'];
const PRESETS = ['15m', '1h', '24h', '7d', '30d'];

function flatten(obj, prefix = '', out = {}) {
  for (const [k, v] of Object.entries(obj || {})) {
    const key = prefix ? prefix + '.' + k : k;
    if (v && typeof v === 'object' && !Array.isArray(v)) flatten(v, key, out);
    else out[key] = v;
  }
  return out;
}

function valueText(v) {
  if (v === undefined || v === null) return '';
  if (Array.isArray(v)) return v.map(valueText).join(', ');
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** `field:value` in the query language, quoted when the value needs it. */
function term(field, value, negate) {
  const v = String(value);
  const plain = /^[A-Za-z0-9_.@\-]+$/.test(v) && !/^(AND|OR|NOT|TO)$/.test(v);
  const lit = plain ? v : '"' + v.replace(/\\/g, '\\\\').replace(/"/g, '\\"') + '"';
  return (negate ? 'NOT ' : '') + field + ':' + lit;
}

function addTerm(q, t) {
  q = (q || '').trim();
  if (!q || q === '*') return t;
  return `(${q}) AND ${t}`;
}

function toLocalInput(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return isNaN(d) ? '' : d.toISOString().slice(0, 19);
}

async function pageEvents(main) {
  document.title = 'Events · ziaxdr';
  const params = new URLSearchParams(location.search);
  const state = {
    q: params.get('q') || '',
    since: params.get('since') || (params.get('from') ? '' : '24h'),
    from: params.get('from') || '',
    to: params.get('to') || '',
    cols: (params.get('cols') || DEFAULT_COLUMNS.join(',')).split(',').filter(Boolean),
  };
  const push = () => {
    const p = new URLSearchParams();
    if (state.q) p.set('q', state.q);
    if (state.since) p.set('since', state.since);
    else { if (state.from) p.set('from', state.from); if (state.to) p.set('to', state.to); }
    if (state.cols.join(',') !== DEFAULT_COLUMNS.join(',')) p.set('cols', state.cols.join(','));
    go('/console/events?' + p.toString());
  };
  const timeBody = () => (state.since ? { since: state.since } : { from: state.from || undefined, to: state.to || undefined });

  const qInput = h('input', { type: 'search', class: 'query', id: 'query', value: state.q, placeholder: 'e.g. event.dataset:web AND http.response.status_code:>=400   (press / to focus)', 'aria-label': 'Query', spellcheck: 'false', autocomplete: 'off' });
  const qErr = h('div', { class: 'error', id: 'query-error', role: 'alert' });
  const qWarn = h('div', { class: 'warning', id: 'query-warning', role: 'status' });
  const preset = h('select', { id: 'range', 'aria-label': 'Time range' },
    PRESETS.map((p) => h('option', { value: p, selected: state.since === p }, 'Last ' + p)),
    h('option', { value: '', selected: !state.since }, 'Absolute…'));
  const from = h('input', { type: 'datetime-local', step: '1', id: 'from', 'aria-label': 'From (UTC)', value: toLocalInput(state.from) });
  const to = h('input', { type: 'datetime-local', step: '1', id: 'to', 'aria-label': 'To (UTC)', value: toLocalInput(state.to) });
  const abs = h('span', { class: 'row', hidden: !!state.since }, 'from', from, 'to', to, h('span', { class: 'muted' }, 'UTC'));
  preset.addEventListener('change', () => { abs.hidden = !!preset.value; });
  const form = h('form', { class: 'panel', role: 'search', onsubmit: (ev) => {
    ev.preventDefault();
    state.q = qInput.value.trim();
    state.since = preset.value;
    if (!state.since) {
      state.from = from.value ? new Date(from.value + 'Z').toISOString() : '';
      state.to = to.value ? new Date(to.value + 'Z').toISOString() : '';
    }
    push();
  } },
  h('div', { class: 'row' }, h('div', { class: 'grow' }, qInput), preset, abs, h('button', { type: 'submit', class: 'primary', id: 'search' }, 'Search')),
  qErr, qWarn);
  const histo = h('div', { class: 'panel', id: 'histogram' });
  const top = h('div', { id: 'top-values' });
  const colsBtn = h('button', { type: 'button', id: 'columns-button' }, 'Columns');
  const colsPanel = h('div', { class: 'panel', hidden: true, id: 'columns' });
  const summary = h('span', { class: 'muted', id: 'summary' });
  const topField = h('input', { type: 'text', id: 'top-field', placeholder: 'field for top values, e.g. url.domain', 'aria-label': 'Field for top values' });
  const topBtn = h('button', { type: 'button', onclick: () => topValues(topField.value.trim()) }, 'Top values');
  const table = h('div', { class: 'tablewrap' });
  const more = h('button', { type: 'button', hidden: true }, 'Load more');
  const exportNote = h('div', { class: 'muted', id: 'export-note', role: 'status' });
  // The export is a POST (it carries the CSRF token), so the page fetches it and hands the
  // file to the browser; the headers say how many events matched and how many were written.
  const exportEvents = async (format) => {
    exportNote.textContent = 'Exporting…';
    try {
      const res = await fetch('/api/v1/events/export', {
        method: 'POST', credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': session.csrf },
        body: JSON.stringify({ query: state.q, ...timeBody(), format, fields: format === 'csv' ? state.cols : undefined }),
      });
      if (!res.ok) throw new ApiError(res.status, ((await res.json().catch(() => null)) || {}).error || res.statusText);
      const total = Number(res.headers.get('x-ziaxdr-export-total'));
      const rows = Number(res.headers.get('x-ziaxdr-export-rows'));
      const blob = await res.blob();
      const a = h('a', { href: URL.createObjectURL(blob), download: 'events.' + format });
      document.body.append(a);
      a.click();
      a.remove();
      exportNote.textContent = rows < total
        ? `Exported the first ${rows.toLocaleString('en')} of ${total.toLocaleString('en')} events (an export stops at 100,000: narrow the range for the rest).`
        : `Exported ${rows.toLocaleString('en')} event(s) as ${format.toUpperCase()}.`;
    } catch (e) {
      exportNote.replaceChildren(errorBox(e));
    }
  };
  const exportBtns = [h('button', { type: 'button', id: 'export-csv', onclick: () => exportEvents('csv') }, 'Export CSV'),
    h('button', { type: 'button', id: 'export-ndjson', onclick: () => exportEvents('ndjson') }, 'Export NDJSON')];
  put(main, h('h1', {}, 'Events'), form, histo,
    h('div', { class: 'row' }, summary, h('span', { class: 'grow' }), topField, topBtn, colsBtn, exportBtns), exportNote, colsPanel, top, table, h('p', {}, more));

  colsBtn.addEventListener('click', () => {
    colsPanel.hidden = !colsPanel.hidden;
    if (!colsPanel.hidden) {
      const input = h('input', { type: 'text', class: 'query', value: state.cols.join(','), 'aria-label': 'Columns, comma separated' });
      const seen = [...new Set(events.flatMap((e) => Object.keys(flatten(e))))].sort();
      colsPanel.replaceChildren(
        h('p', { class: 'muted' }, 'Columns (comma separated ECS fields); pick from the fields of the results:'),
        input,
        h('div', { class: 'row', style: 'margin:8px 0' }, seen.slice(0, 80).map((f) => h('button', { type: 'button', class: 'small', onclick: () => { input.value = input.value ? input.value + ',' + f : f; } }, f))),
        h('div', { class: 'row' }, h('button', { type: 'button', class: 'primary', onclick: () => { state.cols = input.value.split(',').map((x) => x.trim()).filter(Boolean); push(); } }, 'Apply'),
          h('button', { type: 'button', onclick: () => { state.cols = DEFAULT_COLUMNS.slice(); push(); } }, 'Reset')));
      input.focus();
    }
  });

  let events = [];
  let cursor = null;
  const showError = (e) => {
    qErr.replaceChildren();
    qInput.classList.toggle('invalid', !!e);
    if (!e) return;
    const m = /position (\d+)/.exec(e.message);
    qErr.append(e.message);
    if (m) {
      const pos = Number(m[1]);
      qErr.append(h('div', { class: 'mono' }, state.q), h('div', { class: 'mono' }, ' '.repeat(pos) + '^'));
      qInput.focus();
      qInput.setSelectionRange(pos, pos);
    }
  };

  const renderTable = () => {
    const thead = h('tr', {}, state.cols.map((c) => h('th', { scope: 'col' }, c)));
    const rows = events.map((e, idx) => {
      const f = flatten(e);
      const tr = h('tr', { class: 'clickable', tabindex: '0', 'aria-label': 'Open event ' + (idx + 1) }, state.cols.map((c) => {
        const text = c === '@timestamp' ? fmtTime(f[c]) : valueText(f[c]);
        return h('td', { class: c === '@timestamp' ? '' : 'mono', title: text.length > 24 ? text : undefined }, text);
      }));
      tr.addEventListener('click', () => openDrawer(e, tr));
      // The Enter that opens the drawer must not also press the drawer's focused Close button.
      tr.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') { ev.preventDefault(); openDrawer(e, tr); } });
      return tr;
    });
    table.replaceChildren(h('table', { id: 'results' }, h('thead', {}, thead), h('tbody', {}, rows)));
    if (!events.length) table.append(h('p', { class: 'muted' }, 'No event matches in this time range.'));
  };

  const topValues = async (field) => {
    if (!field) return;
    try {
      const r = await api('POST', '/api/v1/events/aggregate', { query: state.q, ...timeBody(), aggregation: { type: 'top', field, size: 10 } });
      const total = r.result.values.reduce((a, v) => a + v.count, 0) + r.result.other_count;
      top.replaceChildren(h('div', { class: 'panel' },
        h('div', { class: 'row' }, h('strong', {}, `Top values of ${field}`), h('span', { class: 'grow' }), h('button', { type: 'button', class: 'small', onclick: () => top.replaceChildren() }, 'Close')),
        h('table', {}, h('tbody', {}, r.result.values.map((v) => h('tr', {},
          h('td', { class: 'mono' }, v.value),
          h('td', {}, v.count.toLocaleString('en'), h('span', { class: 'muted' }, ` (${total ? Math.round((v.count / total) * 100) : 0}%)`)),
          h('td', { class: 'act' },
            h('button', { type: 'button', class: 'small', title: 'Filter for this value', onclick: () => { state.q = addTerm(state.q, term(field, v.value)); push(); } }, '+'),
            h('button', { type: 'button', class: 'small', title: 'Filter out this value', onclick: () => { state.q = addTerm(state.q, term(field, v.value, true)); push(); } }, '−')))))),
        r.result.values.length ? null : h('p', { class: 'muted' }, 'No value.')));
    } catch (e) {
      top.replaceChildren(errorBox(e));
    }
  };

  let opener = null;
  const openDrawer = (e, from) => {
    closeDrawer();
    opener = from || null;
    const f = flatten(e);
    const raw = f['event.original'];
    delete f['event.original'];
    const close = h('button', { type: 'button', onclick: () => closeDrawer(true), 'aria-label': 'Close event' }, 'Close');
    const drawer = h('aside', { class: 'drawer', id: 'drawer', role: 'dialog', 'aria-label': 'Event' },
      h('div', { class: 'row' }, h('h2', { class: 'grow' }, 'Event'), close),
      h('table', { class: 'fields' }, h('tbody', {}, Object.keys(f).sort().map((k) => h('tr', {},
        h('td', {}, k),
        h('td', { class: 'val' }, valueText(f[k])),
        h('td', { class: 'act' },
          h('button', { type: 'button', class: 'small', title: `Add ${k}:value to the query`, 'aria-label': `Filter for ${k}`, onclick: () => { closeDrawer(); state.q = addTerm(state.q, term(k, Array.isArray(f[k]) ? f[k][0] : f[k])); push(); } }, '+'),
          h('button', { type: 'button', class: 'small', title: `Exclude ${k}:value`, 'aria-label': `Filter out ${k}`, onclick: () => { closeDrawer(); state.q = addTerm(state.q, term(k, Array.isArray(f[k]) ? f[k][0] : f[k], true)); push(); } }, '−'),
          h('button', { type: 'button', class: 'small', title: `Top values of ${k}`, onclick: () => { closeDrawer(); topField.value = k; topValues(k); } }, 'Top')))))),
      h('h2', {}, 'Raw record'),
      raw ? h('pre', { class: 'raw' }, raw) : h('p', { class: 'muted' }, 'No raw record stored.'));
    drawer.setAttribute('aria-modal', 'true');
    // Tab and Shift+Tab stay inside the drawer while it is open.
    drawer.addEventListener('keydown', (ev) => {
      if (ev.key !== 'Tab') return;
      const f = [...drawer.querySelectorAll('button, a[href], input, select, textarea, [tabindex]:not([tabindex="-1"])')];
      if (!f.length) return;
      const first = f[0], last = f[f.length - 1];
      if (ev.shiftKey && document.activeElement === first) { ev.preventDefault(); last.focus(); }
      else if (!ev.shiftKey && document.activeElement === last) { ev.preventDefault(); first.focus(); }
    });
    document.body.append(drawer);
    close.focus();
  };
  /** Closes the drawer; `refocus` gives the focus back to the row that opened it. */
  const closeDrawer = (refocus) => {
    const d = $('#drawer');
    if (!d) return;
    d.remove();
    if (refocus === true && opener && opener.isConnected) opener.focus();
  };
  const onKey = (ev) => { if (ev.key === 'Escape' && $('#drawer')) { ev.preventDefault(); closeDrawer(true); } };
  document.addEventListener('keydown', onKey);
  cleanup.push(() => { document.removeEventListener('keydown', onKey); closeDrawer(); });

  const load = async (append) => {
    const r = await api('POST', '/api/v1/events/search', { query: state.q, ...timeBody(), limit: 50, cursor: append ? cursor : undefined });
    events = append ? events.concat(r.events) : r.events;
    cursor = r.next_cursor || null;
    more.hidden = !cursor;
    if (!append) qWarn.replaceChildren(...(r.warnings || []).map((w) => h('div', {}, w)));
    renderTable();
    return r;
  };
  more.addEventListener('click', () => load(true).catch((e) => table.append(errorBox(e))));

  try {
    const [agg, first] = await Promise.all([
      api('POST', '/api/v1/events/aggregate', { query: state.q, ...timeBody(), aggregation: { type: 'histogram' } }),
      load(false),
    ]);
    showError(null);
    const buckets = agg.result.buckets;
    const total = buckets.reduce((a, b) => a + b.count, 0);
    summary.textContent = `${total.toLocaleString('en')} events from ${fmtTime(first.from)} to ${fmtTime(first.to)} · ${first.took_ms} ms`;
    const zoomOut = h('button', { type: 'button', class: 'small', onclick: () => {
      const a = new Date(first.from).getTime(), b = new Date(first.to).getTime();
      const span = b - a;
      state.since = '';
      state.from = new Date(a - span / 2).toISOString();
      state.to = new Date(Math.min(Date.now(), b + span / 2)).toISOString();
      push();
    } }, 'Zoom out');
    histo.replaceChildren(
      h('div', { class: 'row' }, h('span', { class: 'muted' }, `Events per ${interval(agg.result.interval_seconds)}; drag over the chart to zoom in`), h('span', { class: 'grow' }), zoomOut),
      barChart(buckets.map((b) => b.count), {
        labels: buckets.map((b) => b.start),
        title: 'Matching events over time',
        brush: (i, j) => {
          state.since = '';
          state.from = buckets[i].start;
          state.to = new Date(new Date(buckets[j].start).getTime() + agg.result.interval_seconds * 1000).toISOString();
          push();
        },
      }));
  } catch (e) {
    if (e.status === 401) throw e;
    showError(e);
    histo.hidden = true;
    table.replaceChildren();
  }
}

// ---- alerts ----

const STATUSES = ['Pending', 'Acknowledged', 'Ongoing', 'Closed', 'Rejected'];

async function pageAlerts(main) {
  document.title = 'Alerts · ziaxdr';
  const p = new URLSearchParams(location.search);
  const f = { status: p.get('status') || '', urgency: p.get('urgency') || '', rule: p.get('rule') || '', entity: p.get('entity') || '', open: p.get('open') === '1', sort: p.get('sort') || 'last_seen', dir: p.get('dir') || '' };
  const push = () => {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(f)) if (v && !(k === 'sort' && v === 'last_seen') && !(k === 'dir' && v !== 'asc')) q.set(k, v === true ? '1' : v);
    go('/console/alerts?' + q.toString());
  };
  const status = h('select', { id: 'f-status', 'aria-label': 'Status', onchange: () => { f.status = status.value; push(); } },
    h('option', { value: '' }, 'Any status'), STATUSES.map((x) => h('option', { value: x, selected: f.status === x }, x)));
  const urg = h('select', { id: 'f-urgency', 'aria-label': 'Urgency', onchange: () => { f.urgency = urg.value; push(); } },
    h('option', { value: '' }, 'Any urgency'), ['critical', 'high', 'medium', 'low'].map((x) => h('option', { value: x, selected: f.urgency === x }, x)));
  const rule = h('input', { type: 'text', id: 'f-rule', value: f.rule, placeholder: 'rule id', 'aria-label': 'Rule id' });
  const entity = h('input', { type: 'text', id: 'f-entity', value: f.entity, placeholder: 'entity', 'aria-label': 'Entity' });
  const openOnly = h('input', { type: 'checkbox', id: 'f-open', checked: f.open, onchange: () => { f.open = openOnly.checked; push(); } });
  put(main, h('h1', {}, 'Alerts'),
    h('form', { class: 'panel row', onsubmit: (ev) => { ev.preventDefault(); f.rule = rule.value.trim(); f.entity = entity.value.trim(); push(); } },
      status, urg, rule, entity, h('label', {}, openOnly, ' open only'), h('button', { type: 'submit' }, 'Filter')));
  const LIMIT = 1000;
  const q = new URLSearchParams({ limit: String(LIMIT) });
  if (f.status) q.set('status', f.status);
  if (f.rule) q.set('rule', f.rule);
  if (f.entity) q.set('entity', f.entity);
  const r = await api('GET', '/api/v1/alerts?' + q.toString());
  let items = r.items.filter((a) => (!f.urgency || urgencyBand(a.urgency) === f.urgency) && (!f.open || a.status === 'Pending' || a.status === 'Acknowledged' || a.status === 'Ongoing'));
  const key = { last_seen: (a) => a.last_seen, first_seen: (a) => a.first_seen, urgency: (a) => a.urgency, similar: (a) => a.similar };
  const k = key[f.sort] || key.last_seen;
  const asc = f.dir === 'asc';
  items = items.sort((a, b) => (k(a) < k(b) ? 1 : k(a) > k(b) ? -1 : 0) * (asc ? -1 : 1));
  // A second click on the sorted column reverses it.
  const sortHead = (label, name) => h('th', { scope: 'col', 'aria-sort': f.sort === name ? (asc ? 'ascending' : 'descending') : undefined },
    h('button', { type: 'button', class: 'sort', onclick: () => { f.dir = f.sort === name && !asc ? 'asc' : ''; f.sort = name; push(); } }, label + (f.sort === name ? (asc ? ' ▴' : ' ▾') : '')));
  const total = r.total ?? r.items.length;
  const exportQuery = (format) => {
    const e = new URLSearchParams({ format });
    if (f.status) e.set('status', f.status);
    if (f.rule) e.set('rule', f.rule);
    if (f.entity) e.set('entity', f.entity);
    return '/api/v1/alerts/export?' + e.toString();
  };
  put(main, h('p', { class: 'row' }, h('span', { class: 'muted' }, 'Export these alerts (at most 10,000, newest first):'),
    h('a', { href: exportQuery('csv'), download: 'alerts.csv', id: 'alerts-export-csv' }, 'CSV'),
    h('a', { href: exportQuery('ndjson'), download: 'alerts.ndjson', id: 'alerts-export-ndjson' }, 'NDJSON')));
  const partial = r.items.length < total;
  put(main, h('p', { class: 'muted', id: 'alerts-count' }, partial
    ? `${items.length} alert(s) among the first ${r.items.length.toLocaleString('en')} of ${total.toLocaleString('en')} (newest first; narrow the filters to see the others)`
    : `${items.length} alert(s)`),
    h('div', { class: 'tablewrap' }, h('table', { id: 'alerts' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Id'), h('th', {}, 'Title'), sortHead('Urgency', 'urgency'), h('th', {}, 'Status'), h('th', { class: 'hide-narrow' }, 'Rule'),
        h('th', { class: 'hide-narrow' }, 'Entity'), h('th', { class: 'hide-narrow' }, 'Source → target'), sortHead('Similar', 'similar'), sortHead('Last seen', 'last_seen'))),
      h('tbody', {}, items.map((a) => {
        const tr = h('tr', { class: 'clickable', tabindex: '0' },
          h('td', { class: 'mono id' }, h('a', { href: '/console/alerts/' + a.short_id }, a.short_id)),
          h('td', {}, a.title),
          h('td', {}, h('span', { class: 'badge ' + urgencyBand(a.urgency) }, `${urgencyBand(a.urgency)} ${a.urgency}`)),
          h('td', {}, a.status),
          h('td', { class: 'hide-narrow' }, a.rule.name, h('div', { class: 'muted' }, a.rule.type)),
          h('td', { class: 'hide-narrow' }, a.entity),
          h('td', { class: 'hide-narrow mono' }, `${a.source || '–'} → ${a.target || '–'}`),
          h('td', {}, a.similar),
          h('td', {}, fmtTime(a.last_seen)));
        tr.addEventListener('click', (ev) => { if (!ev.target.closest('a')) go('/console/alerts/' + a.short_id); });
        tr.addEventListener('keydown', (ev) => { if (ev.key === 'Enter' && !ev.target.closest('a')) go('/console/alerts/' + a.short_id); });
        return tr;
      })))),
    items.length ? null : h('p', { class: 'muted' }, 'No alert matches these filters.'));
}

/** A link to the events of `value` (an alert's source or target) around the alert's time. */
function pivot(a, value, id) {
  if (!value) return null;
  const v = String(value);
  const ip = /^[0-9.]+$/.test(v) || v.includes(':');
  const q = ip ? term('related.ip', v) : v.includes('@') ? `${term('user.email', v)} OR ${term('user.name', v)}` : `${term('related.hosts', v)} OR ${term('user.name', v)}`;
  const from = new Date(new Date(a.first_seen).getTime() - 3600000).toISOString();
  const to = new Date(new Date(a.last_seen).getTime() + 3600000).toISOString();
  return h('a', { id, href: '/console/events?' + new URLSearchParams({ q, from, to }) }, 'events');
}

async function pageAlert(main, id) {
  const a = await api('GET', '/api/v1/alerts/' + encodeURIComponent(id));
  document.title = `${a.short_id} · ziaxdr`;
  const err = h('div');
  const setStatus = async (to) => {
    const final = to === 'Closed' || to === 'Rejected';
    if (final && !confirm(`Set “${a.title}” to ${to}? It stops gathering similar events (it can be reopened).`)) return;
    try {
      await api('POST', `/api/v1/alerts/${a.uuid}/status`, { status: to });
      toast(`Status: ${to}`);
      render();
    } catch (e) { err.replaceChildren(errorBox(e)); }
  };
  const comment = h('textarea', { id: 'comment', rows: '3', 'aria-label': 'Comment' });
  // The workflow only moves forward (Pending → Acknowledged → Ongoing → Closed or Rejected).
  const rank = { Pending: 0, Acknowledged: 1, Ongoing: 2, Closed: 3, Rejected: 3 };
  // A Closed or Rejected alert can be reopened (back to Ongoing).
  const next = rank[a.status] < 3 ? STATUSES.filter((x) => rank[x] > rank[a.status]) : [];
  const actions = can('analyst') ? h('div', { class: 'row', id: 'status-actions' },
    next.length ? ['Change status:', next.map((x) => h('button', { type: 'button', dataset: { status: x }, onclick: () => setStatus(x) }, x))]
      : h('button', { type: 'button', id: 'reopen', dataset: { status: 'Ongoing' }, onclick: () => setStatus('Ongoing') }, 'Reopen')) : null;
  put(main, 
    h('p', {}, h('a', { href: '/console/alerts' }, '← Alerts')),
    h('h1', {}, a.title, ' ', h('span', { class: 'badge ' + urgencyBand(a.urgency) }, `${urgencyBand(a.urgency)} ${a.urgency}`)),
    h('div', { class: 'panel' }, h('dl', { class: 'kv' },
      h('dt', {}, 'Id'), h('dd', { class: 'mono' }, `${a.short_id} (${a.uuid})`),
      h('dt', {}, 'Status'), h('dd', { id: 'alert-status' }, a.status),
      h('dt', {}, 'Rule'), h('dd', {}, `${a.rule.name} (${a.rule.type}, ${a.rule.id}) `,
        h('a', { id: 'rule-alerts', href: '/console/alerts?' + new URLSearchParams({ rule: a.rule.id }) }, 'its alerts')),
      h('dt', {}, 'Rule author'), h('dd', { id: 'rule-author' }, a.rule.author || '–'),
      h('dt', {}, 'Severity'), h('dd', {}, String(a.rule.severity ?? '–')),
      h('dt', {}, 'Entity'), h('dd', { id: 'alert-entity' }, a.entity),
      h('dt', {}, 'Source'), h('dd', { class: 'mono' }, a.source || '–', ' ', pivot(a, a.source, 'pivot-source')),
      h('dt', {}, 'Target'), h('dd', { class: 'mono' }, a.target || '–', ' ', pivot(a, a.target, 'pivot-target')),
      h('dt', {}, 'First seen'), h('dd', {}, fmtTime(a.first_seen)),
      h('dt', {}, 'Last seen'), h('dd', {}, fmtTime(a.last_seen)),
      h('dt', {}, 'Similar events'), h('dd', { id: 'similar' }, String(a.similar)),
      a.description ? [h('dt', {}, 'Description'), h('dd', {}, a.description)] : null),
    actions, err),
    can('analyst') ? h('form', { class: 'panel', onsubmit: async (ev) => {
      ev.preventDefault();
      if (!comment.value.trim()) return;
      try { await api('POST', `/api/v1/alerts/${a.uuid}/comments`, { text: comment.value }); toast('Comment added'); render(); } catch (e) { err.replaceChildren(errorBox(e)); }
    } }, h('label', { for: 'comment' }, 'Comment'), comment, h('p', {}, h('button', { type: 'submit' }, 'Add comment'))) : null);
  if (can('analyst')) put(main, zscalerPanel(a));
  put(main, h('h2', {}, 'Timeline'), h('ul', { class: 'timeline panel', id: 'timeline' },
    // A comment is in the history ("comment added") and in the comments: shown once, with its text.
    [...a.history.filter((x) => x.kind !== 'comment').map((x) => ({ at: x.at, text: !x.message || x.message === x.kind ? x.kind : `${x.kind}: ${x.message}`, who: x.author })),
      ...a.comments.map((c) => ({ at: c.at || c.created_at, text: 'comment: ' + c.text, who: c.author }))]
      .sort((x, y) => (x.at < y.at ? -1 : 1))
      .map((x) => h('li', {}, h('time', {}, fmtTime(x.at)), ' ', h('span', { class: 'muted' }, x.who), h('div', {}, x.text)))));
  const evBox = h('div', { class: 'tablewrap', id: 'alert-events' }, h('p', { class: 'muted' }, 'Loading events…'));
  put(main, h('h2', {}, `Events (${a.event_ids.length} kept of ${a.similar + 1})`), evBox);
  if (a.details && Object.keys(a.details).length) put(main, h('h2', {}, 'Match details'), h('pre', { class: 'raw' }, JSON.stringify(a.details, null, 2)));
  if (!a.event_ids.length) { evBox.replaceChildren(h('p', { class: 'muted' }, 'No event id kept.')); return; }
  const ids = a.event_ids.slice(0, 100);
  const query = 'ziaxdr.event_id:(' + ids.map((x) => '"' + x + '"').join(' OR ') + ')';
  const from = new Date(new Date(a.first_seen).getTime() - 86400000).toISOString();
  const to = new Date(Math.max(new Date(a.last_seen).getTime(), Date.now()) + 86400000).toISOString();
  try {
    const r = await api('POST', '/api/v1/events/search', { query, from, to, limit: 100 });
    const cols = ['@timestamp', 'event.dataset', 'event.action', 'user.name', 'source.ip', 'destination.domain', 'url.original'];
    evBox.replaceChildren(h('p', {}, h('a', { href: '/console/events?' + new URLSearchParams({ q: query, from, to }) }, 'Open these events in the search')),
      h('table', {}, h('thead', {}, h('tr', {}, cols.map((c) => h('th', {}, c)))),
        h('tbody', {}, r.events.map((e) => { const f = flatten(e); return h('tr', {}, cols.map((c) => h('td', { class: 'mono' }, c === '@timestamp' ? fmtTime(f[c]) : valueText(f[c])))); }))));
  } catch (e) { evBox.replaceChildren(errorBox(e)); }
}

// Respond in Zscaler (analysts and admins): block or unblock the alert's indicator through the
// ZIA API. A dry run first shows what would change, the analyst confirms, and the server
// records the result in the alert's timeline.
function zscalerPanel(a) {
  const box = h('div', { class: 'panel', id: 'zscaler' });
  const out = h('div');
  const base = `/api/v1/alerts/${a.uuid}/zia`;
  (async () => {
    let info;
    try { info = await api('GET', base); } catch (e) { box.replaceChildren(errorBox(e)); return; }
    if (!info.configured) { box.replaceChildren(h('p', { class: 'muted' }, 'Zscaler response is not configured (the [zia] table of the server config).')); return; }
    if (!info.values.length) { box.replaceChildren(h('p', { class: 'muted' }, 'This alert has no domain, URL or IP to block in Zscaler.')); return; }
    const act = async (op) => {
      try {
        const plan = await api('POST', `${base}/${op}`, { dry_run: true });
        if (!confirm(`${op === 'block' ? 'Block' : 'Unblock'} in Zscaler?\n\n${plan.summary}`)) return;
        const done = await api('POST', `${base}/${op}`, {});
        toast(done.summary);
        render();
      } catch (e) { out.replaceChildren(errorBox(e)); }
    };
    box.replaceChildren(h('h2', {}, 'Respond in Zscaler'),
      h('p', {}, 'Values: ', h('span', { class: 'mono', id: 'zscaler-values' }, info.values.join(', ')),
        h('span', { class: 'muted' }, ` → ${[info.category, info.ip_group].filter(Boolean).join(', ')}`)),
      h('div', { class: 'row' },
        h('button', { type: 'button', class: 'danger', id: 'zia-block', onclick: () => act('block') }, 'Block in Zscaler'),
        h('button', { type: 'button', id: 'zia-unblock', onclick: () => act('unblock') }, 'Unblock')),
      out);
  })();
  return box;
}

// ---- intakes ----

function renderSetup(setup, key) {
  const c = setup.cloud_nss;
  const v = setup.nss_vm;
  const hdr = c.http_headers[0];
  const box = h('div', { id: 'setup' });
  if (key) {
    box.append(h('div', { class: 'panel keybox', id: 'new-key' },
      h('strong', {}, 'Intake key — shown only now. Copy it into the Zscaler settings below.'),
      copyRow('Intake key', key)));
  }
  box.append(h('div', { class: 'panel', id: 'cloud-nss' },
    h('h2', {}, 'Cloud NSS feed (ZIA Admin Portal › Administration › Nanolog Streaming Service › Cloud NSS Feeds)'),
    c.warning ? h('p', { class: 'warning panel', id: 'cloud-nss-warning', role: 'note' }, c.warning) : null,
    copyRow('SIEM Type', c.siem_type),
    copyRow('OAuth 2.0 Authentication', c.oauth ? 'on' : 'off'),
    copyRow('Max Batch Size (KB)', String(c.max_batch_size_kb)),
    copyRow('API URL', c.api_url),
    copyRow('HTTP Header name', hdr.name),
    // Without the key (shown once) there is nothing to copy: a placeholder pasted into
    // Zscaler would be sent as the key.
    key || c.key_shown !== false ? copyRow('HTTP Header value', key || hdr.value)
      : h('div', { class: 'copyrow', id: 'header-value' }, h('span', { class: 'muted', style: 'min-width:11em' }, 'HTTP Header value'),
        h('span', {}, 'the intake key, shown once when the intake was created. Lost it? An admin can rotate the key on the Intakes page.')),
    copyRow('Feed Output Type', c.feed_output_type),
    copyRow('JSON Array Notation', c.json_array_notation ? 'on' : 'off'),
    copyRow('Feed Escape Character', c.feed_escape_character),
    copyRow('Timezone', c.timezone)));
  box.append(h('div', { class: 'panel', id: 'nss-vm' },
    h('h2', {}, 'NSS VM feed (syslog over TCP)'),
    v.syslog ? copyRow('SIEM TCP address', v.syslog) : h('p', { class: 'muted' }, 'The syslog listener is off (serve --syslog).'),
    v.syslog_tls ? copyRow('Syslog over TLS', v.syslog_tls) : null,
    copyRow('Feed Output Type', v.feed_output_type),
    copyRow('Feed Escape Character', v.feed_escape_character),
    copyRow('Timezone', v.timezone),
    h('p', { class: 'muted' }, 'The NSS VM formats below carry the intake key in their syslog structured data.')));
  const fmtBox = h('div');
  const tabs = h('div', { class: 'tabs', role: 'tablist' });
  const show = (i) => {
    const f = setup.formats[i];
    [...tabs.children].forEach((b, k) => b.setAttribute('aria-selected', String(k === i)));
    fmtBox.replaceChildren(
      h('p', {}, h('strong', {}, f.log_type), f.record_type ? ` — ${f.record_type}` : '', h('span', { class: 'muted' }, ` · format v${f.version} · ${f.nss_type}`)),
      h('h3', {}, 'Cloud NSS feed output format'), copyRow('', f.cloud_nss),
      h('h3', {}, 'NSS VM feed output format'), copyRow('', f.nss_rfc5424));
  };
  setup.formats.forEach((f, i) => tabs.append(h('button', { type: 'button', role: 'tab', onclick: () => show(i) }, f.name)));
  box.append(h('div', { class: 'panel', id: 'formats' }, h('h2', {}, 'Feed output formats, per log type (straight quotes; paste as is)'), tabs, fmtBox));
  if (setup.formats.length) show(0);
  return box;
}

async function pageIntakes(main) {
  document.title = 'Intakes · ziaxdr';
  const r = await api('GET', '/api/v1/intakes');
  const result = h('div');
  put(main, h('h1', {}, 'Intakes'));
  if (can('admin')) {
    const name = h('input', { type: 'text', id: 'intake-name', required: true, placeholder: 'e.g. ZIA production', 'aria-label': 'Intake name' });
    const entity = h('input', { type: 'text', id: 'intake-entity', list: 'entities', placeholder: r.entities[0] ? r.entities[0].name : 'entity', 'aria-label': 'Entity (existing or new)' });
    // One format today; the field is there so the form says what the intake parses.
    const format = h('select', { id: 'intake-format', 'aria-label': 'Format' }, h('option', { value: 'zscaler-zia' }, 'Zscaler Internet Access (zscaler-zia)'));
    const err = h('div');
    put(main, h('form', { class: 'panel', id: 'new-intake', onsubmit: async (ev) => {
      ev.preventDefault();
      err.replaceChildren();
      try {
        const n = await api('POST', '/api/v1/intakes', { name: name.value, entity: entity.value || undefined, format: format.value });
        result.replaceChildren(h('h2', {}, `Intake “${n.intake.name}” created`), renderSetup(n.setup, n.key));
        result.scrollIntoView();
      } catch (e) { err.replaceChildren(errorBox(e)); }
    } },
    h('h2', {}, 'New intake'),
    h('div', { class: 'row' }, h('label', { for: 'intake-name' }, 'Name'), name, h('label', { for: 'intake-entity' }, 'Entity'), entity,
      h('datalist', { id: 'entities' }, r.entities.map((e) => h('option', { value: e.name }))),
      h('label', { for: 'intake-format' }, 'Format'), format, h('button', { type: 'submit', class: 'primary' }, 'Create')), err));
  }
  put(main, result);
  const rotate = async (i) => {
    if (!confirm(`Rotate the key of “${i.name}”? The current key stops working now.`)) return;
    try {
      const n = await api('POST', `/api/v1/intakes/${i.uuid}/rotate`);
      result.replaceChildren(h('h2', {}, `New key for “${i.name}”`), renderSetup(n.setup, n.key));
      result.scrollIntoView();
    } catch (e) { result.replaceChildren(errorBox(e)); }
  };
  const toggle = async (i) => {
    try { await api('POST', `/api/v1/intakes/${i.uuid}/status`, { status: i.status === 'enabled' ? 'disabled' : 'enabled' }); render(); } catch (e) { result.replaceChildren(errorBox(e)); }
  };
  put(main, h('div', { class: 'tablewrap' }, h('table', { id: 'intakes' },
    h('thead', {}, h('tr', {}, ['Name', 'Entity', 'Status', 'Events/min', 'Last event', 'Received', 'Rejected', 'Failed 24 h', ''].map((x) => h('th', {}, x)))),
    h('tbody', {}, r.items.map((i) => h('tr', {},
      h('td', {}, h('a', { href: '/console/intakes/' + i.uuid }, i.name)),
      h('td', {}, i.entity),
      h('td', {}, i.status, ' ', i.silent ? h('span', { class: 'badge silent' }, 'silent') : null),
      h('td', {}, i.events_per_minute.toFixed(1)),
      h('td', {}, ago(i.last_seen)),
      h('td', {}, i.live.received),
      h('td', {}, i.live.rejected),
      h('td', {}, i.failed_24h),
      h('td', { class: 'row' },
        h('a', { href: '/console/intakes/' + i.uuid }, 'Setup'),
        can('admin') ? h('button', { type: 'button', class: 'small', onclick: () => rotate(i) }, 'Rotate key') : null,
        can('admin') ? h('button', { type: 'button', class: 'small', onclick: () => toggle(i) }, i.status === 'enabled' ? 'Disable' : 'Enable') : null)))))));
  const timer = setInterval(async () => {
    try {
      const fresh = await api('GET', '/api/v1/intakes');
      const rows = document.querySelectorAll('#intakes tbody tr');
      fresh.items.forEach((i, k) => {
        const c = rows[k] && rows[k].children;
        if (!c) return;
        c[3].textContent = i.events_per_minute.toFixed(1);
        c[4].textContent = ago(i.last_seen);
        c[5].textContent = i.live.received;
        c[6].textContent = i.live.rejected;
        c[7].textContent = i.failed_24h;
      });
    } catch { /* next tick */ }
  }, 10000);
  cleanup.push(() => clearInterval(timer));
}

async function pageIntake(main, uuid) {
  const r = await api('GET', `/api/v1/intakes/${encodeURIComponent(uuid)}/setup`);
  document.title = `${r.intake.name} · ziaxdr`;
  put(main, h('p', {}, h('a', { href: '/console/intakes' }, '← Intakes')),
    h('h1', {}, r.intake.name),
    h('p', { class: 'muted' }, `Format ${r.intake.format} · ${r.intake.status} · created ${fmtTime(r.intake.created_at)} · UUID ${r.intake.uuid}. The key is not shown again; rotate it on the Intakes page to get a new one.`),
    renderDrift(r.drift || []),
    renderSetup(r.setup, null));
}

// A feed whose keys differ from the recommended format: what differs, since when, and the
// format to paste in its place.
function renderDrift(drift) {
  if (!drift.length) return null;
  return h('div', { id: 'drift', class: 'panel' }, h('h2', {}, 'Feed format drift'),
    drift.map((d) => h('div', { class: 'drift' },
      h('p', {}, h('span', { class: 'badge bad' }, `${d.records.toLocaleString('en')} records`), ' ', d.message,
        h('span', { class: 'muted' }, ` · last ${fmtTime(d.last_seen)}`)),
      copyRow(`${d.format} v${d.version}`, d.paste))));
}

// ---- rules and CTI ----

async function pageRules(main) {
  document.title = 'Rules · ziaxdr';
  const r = await api('GET', '/api/v1/rules');
  const filter = h('input', { type: 'search', id: 'rule-filter', placeholder: 'filter by title, id, author', 'aria-label': 'Filter rules' });
  const runBox = h('div', { id: 'rule-run' });
  const since = h('select', { id: 'run-since', 'aria-label': 'Run over' }, ['1h', '24h', '7d', '30d'].map((x) => h('option', { value: x, selected: x === '24h' }, 'last ' + x)));
  const loaded = r.items.filter((x) => x.status === 'loaded').length;
  put(main, h('h1', {}, 'Rules'),
    h('p', { class: 'muted' }, `${loaded} loaded, ${r.items.length - loaded} unsupported. Sigma rules are under the Detection Rule License: their alerts carry the author.`),
    h('div', { class: 'row' }, filter, h('span', {}, 'Run a rule over stored events of the'), since), runBox);
  const tbody = h('tbody');
  const run = async (rule) => {
    runBox.replaceChildren(h('p', { class: 'muted' }, `Running ${rule.title}…`));
    try {
      const to = new Date();
      const spans = { '1h': 3600e3, '24h': 86400e3, '7d': 7 * 86400e3, '30d': 30 * 86400e3 };
      const from = new Date(to.getTime() - spans[since.value]);
      const res = await api('POST', `/api/v1/rules/${encodeURIComponent(rule.id)}/run`, { from: from.toISOString(), to: to.toISOString() });
      const cols = ['@timestamp', 'event.dataset', 'user.name', 'source.ip', 'destination.domain', 'url.original'];
      runBox.replaceChildren(h('div', { class: 'panel' },
        h('p', {}, h('strong', {}, rule.title), `: ${res.matched} match(es) among ${res.scanned} events (no alert created).`),
        h('div', { class: 'tablewrap' }, h('table', {}, h('thead', {}, h('tr', {}, cols.map((c) => h('th', {}, c)))),
          h('tbody', {}, (res.events || []).map((e) => { const f = flatten(e); return h('tr', {}, cols.map((c) => h('td', { class: 'mono' }, valueText(f[c])))); }))))));
    } catch (e) { runBox.replaceChildren(errorBox(e)); }
  };
  const setEnabled = async (rule, on, box) => {
    try { await api('POST', `/api/v1/rules/${encodeURIComponent(rule.id)}/enabled`, { enabled: on }); rule.enabled = on; toast(`${rule.title}: ${on ? 'enabled' : 'disabled'}`); } catch (e) { box.checked = !on; runBox.replaceChildren(errorBox(e)); }
  };
  const draw = () => {
    const needle = filter.value.toLowerCase();
    tbody.replaceChildren(...r.items.filter((x) => !needle || [x.title, x.id, x.author].join(' ').toLowerCase().includes(needle)).map((x) => {
      const box = h('input', { type: 'checkbox', checked: x.enabled !== false, disabled: x.status !== 'loaded' || !can('analyst'), 'aria-label': 'Enabled: ' + x.title });
      box.addEventListener('change', () => setEnabled(x, box.checked, box));
      return h('tr', {},
        h('td', {}, box),
        h('td', {}, x.title, h('div', { class: 'muted mono' }, x.id)),
        h('td', {}, x.status === 'loaded' ? h('span', { class: 'badge ok' }, 'loaded') : h('span', { class: 'badge bad', title: x.reason || '' }, 'unsupported'), x.reason ? h('div', { class: 'muted' }, x.reason) : null),
        h('td', { class: 'hide-narrow' }, x.level || ''),
        h('td', { class: 'hide-narrow' }, x.author || ''),
        h('td', {}, x.hits ?? 0, x.last_hit ? h('div', { class: 'muted' }, ago(x.last_hit)) : null),
        h('td', {}, x.status === 'loaded' && can('analyst') ? h('button', { type: 'button', class: 'small', onclick: () => run(x) }, 'Run') : null));
    }));
  };
  filter.addEventListener('input', draw);
  put(main, h('div', { class: 'tablewrap' }, h('table', { id: 'rules' },
    h('thead', {}, h('tr', {}, ['On', 'Rule', 'Status', 'Level', 'Author', 'Hits', ''].map((x, i) => h('th', { class: i === 3 || i === 4 ? 'hide-narrow' : '' }, x)))), tbody)));
  draw();
}

async function pageCti(main) {
  document.title = 'CTI · ziaxdr';
  const r = await api('GET', '/api/v1/cti/sources');
  put(main, h('h1', {}, 'Cyber threat intelligence'));
  const out = h('div');
  if (can('analyst')) {
    const file = h('input', { type: 'file', id: 'stix-file', accept: '.json,application/json', 'aria-label': 'STIX 2.1 bundle' });
    put(main, h('form', { class: 'panel', id: 'cti-import', onsubmit: async (ev) => {
      ev.preventDefault();
      const f = file.files[0];
      if (!f) return;
      try {
        const text = await f.text();
        const res = await api('POST', '/api/v1/cti/import?name=' + encodeURIComponent(f.name), text, true);
        toast(`Imported ${f.name}`);
        await render();
        put($('#main'), h('details', { class: 'panel' }, h('summary', {}, `Import report of ${f.name}`), h('pre', { class: 'raw' }, JSON.stringify(res, null, 2))));
      } catch (e) { out.replaceChildren(errorBox(e)); }
    } }, h('h2', {}, 'Import a STIX 2.1 bundle'), h('div', { class: 'row' }, file, h('button', { type: 'submit', class: 'primary' }, 'Import')),
    h('p', { class: 'muted' }, 'New indicators are also hunted for in the stored events of the last days (serve --retrohunt-days).')));
  }
  put(main, out, h('div', { class: 'tablewrap' }, h('table', { id: 'cti-sources' },
    h('thead', {}, h('tr', {}, ['Source', 'Imported', 'Indicators', 'Active'].map((x) => h('th', {}, x)))),
    h('tbody', {}, (r.items || []).map((x) => h('tr', {}, h('td', { class: 'mono' }, x.name || x.source), h('td', {}, fmtTime(x.imported_at)), h('td', {}, x.indicators ?? x.count ?? 0), h('td', {}, x.active ?? '')))))),
  (r.items || []).length ? null : h('p', { class: 'muted' }, 'No indicator imported yet.'));
}

// ---- settings: password, API tokens, users ----

async function pageSettings(main) {
  document.title = 'Settings · ziaxdr';
  put(main, h('h1', {}, 'Settings'));
  const cur = h('input', { type: 'password', id: 'pw-current', autocomplete: 'current-password', 'aria-label': 'Current password' });
  const nw = h('input', { type: 'password', id: 'pw-new', autocomplete: 'new-password', 'aria-label': 'New password (12 characters or more)' });
  const pwMsg = h('div');
  put(main, h('form', { class: 'panel', onsubmit: async (ev) => {
    ev.preventDefault();
    try { await api('POST', '/api/v1/account/password', { current: cur.value, new: nw.value }); pwMsg.replaceChildren(h('p', {}, 'Password changed.')); cur.value = nw.value = ''; } catch (e) { pwMsg.replaceChildren(errorBox(e)); }
  } }, h('h2', {}, 'Your password'), h('div', { class: 'row' }, cur, nw, h('button', { type: 'submit' }, 'Change')), pwMsg));
  if (!can('admin')) return;
  const [tokens, users] = await Promise.all([api('GET', '/api/v1/tokens'), api('GET', '/api/v1/users')]);
  const tName = h('input', { type: 'text', id: 'token-name', placeholder: 'token name, e.g. soar', 'aria-label': 'Token name', required: true });
  const tRole = h('select', { id: 'token-role', 'aria-label': 'Token role' }, ['read-only', 'analyst', 'admin'].map((x) => h('option', { value: x }, x)));
  const tOut = h('div');
  put(main, h('div', { class: 'panel' }, h('h2', {}, 'API tokens'),
    h('p', { class: 'muted' }, 'Send as Authorization: Bearer <token> to the /api/v1 routes.'),
    h('form', { class: 'row', onsubmit: async (ev) => {
      ev.preventDefault();
      try { const n = await api('POST', '/api/v1/tokens', { name: tName.value, role: tRole.value }); tOut.replaceChildren(h('div', { class: 'panel keybox' }, h('strong', {}, 'Token — shown only now'), copyRow(n.token.name, n.secret))); } catch (e) { tOut.replaceChildren(errorBox(e)); }
    } }, tName, tRole, h('button', { type: 'submit' }, 'Create token')), tOut,
    h('div', { class: 'tablewrap' }, h('table', {}, h('thead', {}, h('tr', {}, ['Name', 'Role', 'Created by', 'Created', 'Last used', ''].map((x) => h('th', {}, x)))),
      h('tbody', {}, tokens.items.map((t) => h('tr', {}, h('td', {}, t.name), h('td', {}, t.role), h('td', {}, t.created_by), h('td', {}, fmtTime(t.created_at)), h('td', {}, fmtTime(t.last_used_at)),
        h('td', {}, h('button', { type: 'button', class: 'small danger', onclick: async () => { if (confirm(`Revoke ${t.name}?`)) { await api('DELETE', '/api/v1/tokens/' + t.id); render(); } } }, 'Revoke')))))))));
  const uName = h('input', { type: 'text', id: 'user-name', placeholder: 'user name', 'aria-label': 'User name', required: true });
  const uRole = h('select', { id: 'user-role', 'aria-label': 'User role' }, ['analyst', 'read-only', 'admin'].map((x) => h('option', { value: x }, x)));
  const uPass = h('input', { type: 'password', id: 'user-password', placeholder: 'initial password (12+)', 'aria-label': 'Initial password', autocomplete: 'new-password', required: true });
  const uOut = h('div');
  put(main, h('div', { class: 'panel' }, h('h2', {}, 'Users'),
    h('form', { class: 'row', onsubmit: async (ev) => {
      ev.preventDefault();
      try { await api('POST', '/api/v1/users', { name: uName.value, role: uRole.value, password: uPass.value }); render(); } catch (e) { uOut.replaceChildren(errorBox(e)); }
    } }, uName, uRole, uPass, h('button', { type: 'submit' }, 'Add user')), uOut,
    h('div', { class: 'tablewrap' }, h('table', {}, h('thead', {}, h('tr', {}, ['Name', 'Role', 'Created', ''].map((x) => h('th', {}, x)))),
      h('tbody', {}, users.items.map((u) => h('tr', {}, h('td', {}, u.name), h('td', {}, u.role), h('td', {}, fmtTime(u.created_at)),
        h('td', {}, u.name === session.user ? null : h('button', { type: 'button', class: 'small danger', onclick: async () => { if (confirm(`Delete ${u.name}?`)) { try { await api('DELETE', '/api/v1/users/' + encodeURIComponent(u.name)); render(); } catch (e) { uOut.replaceChildren(errorBox(e)); } } } }, 'Delete')))))))));
}

render();
