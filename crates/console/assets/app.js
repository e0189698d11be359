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
    // Through the CSSOM: the Content-Security-Policy refuses style attributes.
    else if (k === 'style') el.style.cssText = v;
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
  [/^\/console\/dashboards$/, pageDashboards],
  [/^\/console\/dashboards\/([^/]+)$/, pageDashboards],
  [/^\/console\/events$/, pageEvents],
  [/^\/console\/alerts$/, pageAlerts],
  [/^\/console\/alerts\/([^/]+)$/, pageAlert],
  [/^\/console\/intakes$/, pageIntakes],
  [/^\/console\/intakes\/([^/]+)$/, pageIntake],
  [/^\/console\/rules$/, pageRules],
  [/^\/console\/rules\/([^/]+)$/, pageRule],
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

// ---- dashboards ----

/** The dashboards, one per log type: key figures `[label, query, measure]` (a count; a
 * distinct count when `measure` is a field; bytes when it is `{ sum: [fields] }`) and tiles
 * `[title, field, query, extras, bytes]`: the top values of a field among the events of the
 * tile's query, with per value the `extras` (a field: its most frequent value; `{ mean: field,
 * label }`: the field's mean) or, with `bytes` (`{ sum: [fields] }`), the values with the
 * most bytes (the store's top by sum: every value's events, not only those of the most
 * frequent values), with their bytes. Every figure, tile and value opens Events with its query
 * and the dashboard's range. */
const DASHBOARDS = [
  { id: 'web', title: 'Web', q: 'event.dataset:web',
    kpis: [['Transactions', ''], ['Blocked', 'event.outcome:failure'], ['Threats', 'zscaler.zia.threat.name:* AND NOT zscaler.zia.threat.name:None'], ['Users', '', 'user.email'],
      ['Bytes received', '', { sum: ['http.response.bytes'] }], ['Bytes sent', '', { sum: ['http.request.bytes'] }]],
    tiles: [
      ['Top blocked URL categories', 'zscaler.zia.url_category', 'event.outcome:failure'],
      ['Top users', 'user.email', ''],
      ['Top departments', 'zscaler.zia.department', ''],
      ['Top locations', 'zscaler.zia.location', ''],
      ['Threats', 'zscaler.zia.threat.name', 'NOT zscaler.zia.threat.name:None'],
      // The feed's risk per transaction is the page risk index (0-100): an application's is
      // the mean over its transactions.
      ['Applications (shadow IT), with their class and risk', 'zscaler.zia.appname', '', ['zscaler.zia.appclass', { mean: 'zscaler.zia.pagerisk', label: 'risk' }]],
      ['Top blocked domains', 'destination.domain', 'event.outcome:failure'],
      ['Bandwidth: the 10 users with the most bytes received and sent', 'user.email', '', null, { sum: ['http.response.bytes', 'http.request.bytes'] }],
      ['Block reasons', 'event.reason', 'event.outcome:failure'],
    ] },
  { id: 'firewall', title: 'Firewall', q: 'event.dataset:firewall',
    kpis: [['Sessions', ''], ['Blocked', 'event.outcome:failure'], ['Threats', 'zscaler.zia.threat.name:*'], ['Sources', '', 'source.ip'],
      ['Bytes', '', { sum: ['source.bytes', 'destination.bytes'] }]],
    tiles: [
      ['Top blocked destinations', 'destination.ip', 'event.outcome:failure'],
      ['Threats', 'zscaler.zia.threat.name', ''],
      ['Top rules', 'rule.name', ''],
      ['Top applications', 'network.application', ''],
      ['Top destination ports', 'destination.port', ''],
      ['Top destination countries', 'destination.geo.country_name', ''],
      ['Top users', 'user.email', ''],
      ['Top locations', 'zscaler.zia.location', ''],
      ['Bandwidth: the 10 sources with the most bytes sent and received', 'source.ip', '', null, { sum: ['source.bytes', 'destination.bytes'] }],
    ] },
  { id: 'dns', title: 'DNS', q: 'event.dataset:dns',
    kpis: [['Requests', ''], ['Blocked', 'event.action:block'], ['Domains', '', 'dns.question.name'], ['Users', '', 'user.email']],
    tiles: [
      ['Top domains', 'dns.question.name', ''],
      ['Top blocked domains', 'dns.question.name', 'event.action:block'],
      ['Top categories', 'zscaler.zia.category', ''],
      ['Top rules', 'rule.name', ''],
      ['Top query types', 'dns.question.type', ''],
      ['Top users', 'user.email', ''],
      ['Top locations', 'zscaler.zia.location', ''],
    ] },
  { id: 'tunnel', title: 'Tunnel', q: 'event.dataset:tunnel',
    kpis: [['Tunnel records', ''], ['Failures', 'event.outcome:failure'], ['Locations', '', 'zscaler.zia.location']],
    tiles: [
      ['Tunnels up, per location', 'zscaler.zia.location', 'zscaler.zia.tunnel.status:UP'],
      ['Tunnels down, per location', 'zscaler.zia.location', 'zscaler.zia.tunnel.status:DOWN'],
      ['Tunnel events', 'zscaler.zia.tunnel.status', ''],
      ['Errors', 'error.code', ''],
      ['Tunnel types', 'network.type', ''],
      ['Record types', 'zscaler.zia.recordtype', ''],
    ] },
  { id: 'audit', title: 'Admin audit', q: 'event.dataset:audit',
    kpis: [['Audit records', ''], ['Changes', 'NOT event.action:sign_in AND NOT event.action:sign_out'], ['Failures', 'event.outcome:failure'], ['Admins', '', 'user.email']],
    tiles: [
      ['Changes by admin', 'user.email', 'NOT event.action:sign_in AND NOT event.action:sign_out'],
      ['Actions', 'event.action', ''],
      ['Changed areas', 'zscaler.zia.category', 'NOT event.action:sign_in AND NOT event.action:sign_out'],
      ['Failed sign-ins by address', 'source.ip', 'event.outcome:failure'],
      ['Interfaces', 'zscaler.zia.interface', ''],
    ] },
  { id: 'saas', title: 'SaaS security', q: 'event.dataset:casb',
    kpis: [['Records', ''], ['Policy hits', 'rule.name:*'], ['Threats', 'zscaler.zia.threat.name:*'], ['Users', '', 'user.email']],
    tiles: [
      ['Top applications', 'network.application', ''],
      ['Policies hit', 'rule.name', ''],
      ['Threats', 'zscaler.zia.threat.name', ''],
      ['Top users', 'user.email', ''],
      ['Top departments', 'zscaler.zia.department', ''],
      ['Top files', 'file.name', ''],
      ['Tenants', 'zscaler.zia.tenant', ''],
    ] },
  { id: 'endpoint-dlp', title: 'Endpoint DLP', q: 'event.dataset:endpoint_dlp',
    kpis: [['Incidents', ''], ['Blocked', 'event.type:denied'], ['Users', '', 'user.name']],
    tiles: [
      ['Top rules', 'rule.name', ''],
      ['Top users', 'user.name', ''],
      ['Top devices', 'host.name', ''],
      ['Actions', 'event.action', ''],
      ['Channels', 'zscaler.zia.channel', ''],
    ] },
  { id: 'email-dlp', title: 'Email DLP', q: 'event.dataset:email_dlp',
    kpis: [['Incidents', ''], ['Blocked', 'event.action:block'], ['Senders', '', 'email.from.address']],
    tiles: [
      ['Top rules', 'rule.name', ''],
      ['Top senders', 'email.from.address', ''],
      ['Actions', 'event.action', ''],
      ['Top departments', 'zscaler.zia.department', ''],
    ] },
];

/** A bar of `share` (0-1) of the width. The width is set through the CSSOM: the
 * Content-Security-Policy refuses inline style attributes. */
function meter(share) {
  const bar = h('span');
  bar.style.width = Math.max(2, Math.round(share * 100)) + '%';
  return h('div', { class: 'meter', 'aria-hidden': 'true' }, bar);
}

/** A byte count for people: `1.2 GB`. */
function fmtBytes(n) {
  const units = ['B', 'KB', 'MB', 'GB', 'TB', 'PB'];
  let i = 0, v = n;
  while (Math.abs(v) >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return `${i ? v.toFixed(v < 10 ? 1 : 0) : v} ${units[i]}`;
}

/** The sum of `fields` over the events of `query` (the store's sum aggregation, once per
 * field), and how many events had the first one. */
async function sumOf(query, range, fields) {
  const rs = await Promise.all(fields.map((field) => aggregate(query, range, { type: 'sum', field })));
  return { sum: rs.reduce((a, r) => a + r.result.sum, 0), events: rs[0].result.events };
}

/** `a AND b`, leaving out empty parts. */
function andQ(...parts) {
  const p = parts.filter((x) => x && x.trim());
  return p.length > 1 ? p.map((x) => (/\s(OR|or|\|\|)\s/.test(x) ? `(${x})` : x)).join(' AND ') : (p[0] || '');
}

/** The Events page for a query over a dashboard's range. */
function eventsLink(q, since) {
  const p = new URLSearchParams();
  if (q) p.set('q', q);
  p.set('since', since);
  return '/console/events?' + p.toString();
}

async function pageDashboards(main, which) {
  const d = DASHBOARDS.find((x) => x.id === which) || DASHBOARDS[0];
  document.title = `${d.title} dashboard · ziaxdr`;
  const params = new URLSearchParams(location.search);
  const since = PRESETS.includes(params.get('since')) ? params.get('since') : '24h';
  const refresh = Number(params.get('refresh')) || 0;
  const range = presetRange(since);
  const nav = (id, s, r) => {
    const p = new URLSearchParams({ since: s });
    if (r) p.set('refresh', String(r));
    return `/console/dashboards/${id}?${p}`;
  };
  const sel = h('select', { id: 'dash-range', 'aria-label': 'Time range' }, PRESETS.map((p) => h('option', { value: p, selected: p === since }, presetLabel(p))));
  sel.addEventListener('change', () => go(nav(d.id, sel.value, refresh)));
  put(main, h('h1', {}, `${d.title} dashboard`),
    h('nav', { class: 'tabs', 'aria-label': 'Log types', id: 'dash-tabs' }, DASHBOARDS.map((x) => h('a', { class: 'tab', href: nav(x.id, since, refresh), 'aria-current': x.id === d.id ? 'page' : undefined }, x.title))),
    h('div', { class: 'row' }, sel, refreshSelect(refresh, (r) => go(nav(d.id, since, r), true)),
      h('a', { href: eventsLink(d.q, since), id: 'dash-events' }, `All ${d.title} events`), h('span', { class: 'muted', id: 'dash-updated' })));
  const kpis = h('div', { class: 'grid', id: 'dash-kpis' });
  const histo = h('div', { class: 'panel', id: 'dash-histogram' });
  const tiles = h('div', { class: 'grid tiles', id: 'dash-tiles' });
  put(main, kpis, histo, tiles);

  const draw = async () => {
    // Key figures.
    const kpiCards = d.kpis.map(([label, q, measure]) => {
      const value = h('div', { class: 'big' }, '…');
      const card = h('div', { class: 'panel card kpi' }, h('div', { class: 'muted' }, label), h('a', { href: eventsLink(andQ(d.q, q), since) }, value));
      const shown = measure && measure.sum
        ? sumOf(andQ(d.q, q), range, measure.sum).then((r) => fmtBytes(r.sum))
        : aggregate(andQ(d.q, q), range, measure ? { type: 'distinct', field: measure } : { type: 'count' })
          .then((r) => (r.result.count ?? 0).toLocaleString('en'));
      shown.then((text) => { value.textContent = text; }).catch((e) => { value.replaceChildren(errorBox(e)); });
      return card;
    });
    kpis.replaceChildren(...kpiCards);
    aggregate(d.q, range, { type: 'histogram' }).then((r) => {
      const b = r.result.buckets;
      histo.replaceChildren(h('div', { class: 'muted' }, `${d.title} events per ${interval(r.result.interval_seconds)}`),
        barChart(b.map((x) => x.count), { labels: b.map((x) => x.start), title: `${d.title} events over time`, brush: (i, j) => {
          const from = b[i].start, to = new Date(new Date(b[j].start).getTime() + r.result.interval_seconds * 1000).toISOString();
          go('/console/events?' + new URLSearchParams({ q: d.q, from, to }));
        } }));
    }).catch((e) => histo.replaceChildren(errorBox(e)));
    // Tiles.
    const cards = d.tiles.map(([title, field, q, extra, bytes]) => {
      const tq = andQ(d.q, q);
      const body = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
      const card = h('section', { class: 'panel tile', 'aria-label': title },
        h('div', { class: 'row' }, h('h2', { class: 'grow' }, title), h('a', { class: 'small', href: eventsLink(tq, since), 'aria-label': `Events of ${title}` }, 'Events →')),
        body);
      // A bytes tile ranks by the store's sum over every value (exact), not by count.
      const agg = bytes ? { type: 'top_by_sum', field, sum: bytes.sum, size: 10 } : { type: 'top', field, size: 10 };
      aggregate(tq, range, agg).then((r) => {
        const vals = bytes ? r.result.values.map((v) => ({ ...v, bytes: v.sum })) : r.result.values;
        if (!vals.length) { body.replaceChildren(h('p', { class: 'muted' }, 'No event in this range.')); return; }
        const measure = (v) => (bytes ? v.bytes : v.count);
        const max = Math.max(1, ...vals.map(measure));
        const rows = vals.map((v) => {
          const extraCell = extra ? h('td', { class: 'muted extra' }, '…') : null;
          if (extra) {
            const vq = andQ(tq, term(field, v.value));
            Promise.all(extra.map((f) => (f.mean
              ? sumOf(vq, range, [f.mean]).then((x) => (x.events ? `${f.label} ${Math.round(x.sum / x.events)}` : null))
              : aggregate(vq, range, { type: 'top', field: f, size: 1 }).then((x) => (x.result.values[0] ? x.result.values[0].value : null)))
              .catch(() => null)))
              .then((xs) => { extraCell.textContent = xs.filter((x) => x !== null).join(' · ') || '–'; });
          }
          return h('tr', {},
            h('td', { class: 'val' }, h('a', { href: eventsLink(andQ(tq, term(field, v.value)), since) }, v.value),
              meter(measure(v) / max)),
            extraCell,
            h('td', { class: 'num', title: bytes ? `${v.count.toLocaleString('en')} events` : undefined, dataset: bytes ? { bytes: String(v.bytes) } : undefined }, bytes ? fmtBytes(v.bytes) : v.count.toLocaleString('en')));
        });
        // Through h(): replaceChildren() would show a null as the text "null".
        body.replaceChildren(h('div', {}, h('table', { class: 'top' }, h('tbody', {}, rows)),
          !r.result.other_count ? null
            : bytes ? h('p', { class: 'muted', dataset: { otherBytes: String(r.result.other_sum) } }, `and ${fmtBytes(r.result.other_sum)} by the others`)
              : h('p', { class: 'muted' }, `and ${r.result.other_count.toLocaleString('en')} more`)));
      }).catch((e) => body.replaceChildren(errorBox(e)));
      return card;
    });
    tiles.replaceChildren(...cards);
    $('#dash-updated').textContent = `updated ${fmtTime(new Date().toISOString())}`;
  };
  await draw();
  autoRefresh(refresh, () => draw());
}

// ---- events ----

const DEFAULT_COLUMNS = ['@timestamp', 'event.dataset', 'event.action', 'user.name', 'source.ip', 'destination.domain', 'url.original'];
const PRESETS = ['5m', '15m', '1h', '4h', '12h', '24h', '3d', '7d', '14d', '30d', '90d', 'today', 'yesterday'];

/** The label of a time preset. */
function presetLabel(p) {
  return p === 'today' ? 'Today (UTC)' : p === 'yesterday' ? 'Yesterday (UTC)' : 'Last ' + p;
}

/** The request body's time range for a preset: `today` and `yesterday` are UTC days, the
 * others are `since` durations the store reads itself. */
function presetRange(p) {
  if (p !== 'today' && p !== 'yesterday') return { since: p };
  const d = new Date();
  const start = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()) - (p === 'yesterday' ? 86400e3 : 0);
  const end = p === 'yesterday' ? start + 86400e3 : Date.now();
  return { from: new Date(start).toISOString(), to: new Date(end).toISOString() };
}

/** Runs at most two aggregations at once: the server takes a few searches per user, and a
 * dashboard asks for many. */
const aggQueue = { running: 0, waiting: [] };
function aggregate(query, range, aggregation) {
  return new Promise((resolve, reject) => {
    const run = () => {
      aggQueue.running++;
      api('POST', '/api/v1/events/aggregate', { query, ...range, aggregation })
        .then(resolve, reject)
        .finally(() => { aggQueue.running--; const next = aggQueue.waiting.shift(); if (next) next(); });
    };
    if (aggQueue.running < 2) run(); else aggQueue.waiting.push(run);
  });
}

/** Re-runs `f` every `sec` seconds while the page is shown (0: never). */
function autoRefresh(sec, f) {
  if (!sec) return;
  const timer = setInterval(() => { if (!document.hidden) f(); }, sec * 1000);
  cleanup.push(() => clearInterval(timer));
}

/** The auto-refresh selector; `onchange(sec)` is called with the choice. */
function refreshSelect(current, onchange) {
  const sel = h('select', { id: 'auto-refresh', 'aria-label': 'Auto-refresh' },
    [['0', 'No auto-refresh'], ['30', 'Refresh every 30 s'], ['60', 'Refresh every 1 min'], ['300', 'Refresh every 5 min']]
      .map(([v, l]) => h('option', { value: v, selected: String(current || 0) === v }, l)));
  sel.addEventListener('change', () => onchange(Number(sel.value)));
  return sel;
}

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

// ---- recent queries and field-name completion ----

const RECENT_KEY = 'ziaxdr.recent-queries';
/** Queries searched in this browser, newest first (at most 15). */
function recentQueries() {
  try { return JSON.parse(localStorage.getItem(RECENT_KEY) || '[]').filter((q) => typeof q === 'string'); } catch { return []; }
}
function rememberQuery(q) {
  const list = [q, ...recentQueries().filter((x) => x !== q)].slice(0, 15);
  try { localStorage.setItem(RECENT_KEY, JSON.stringify(list)); } catch { /* storage full or off */ }
}

/** Field names for completion: the store's typed fields (asked once), plus every field seen
 * in results. */
const knownFields = new Set();
let fieldsAsked = null;
function loadFields() {
  if (!fieldsAsked) {
    fieldsAsked = api('GET', '/api/v1/events/fields')
      .then((r) => r.items.forEach((f) => knownFields.add(f.name)))
      .catch(() => { fieldsAsked = null; });
  }
  return fieldsAsked;
}
function learnFields(events) {
  for (const e of events.slice(0, 50)) for (const k of Object.keys(flatten(e))) if (k !== 'event.original') knownFields.add(k);
}

/** A suggestion list under a query input: typing a field name offers the known fields that
 * start with (then contain) it; Down/Up move, Enter or Tab takes one, Escape closes. */
function fieldCompletion(input) {
  const box = h('ul', { class: 'suggest', id: 'query-suggest', role: 'listbox', 'aria-label': 'Field names', hidden: true });
  let items = [], active = -1;
  const wordAt = () => {
    const pos = input.selectionStart ?? input.value.length;
    const before = input.value.slice(0, pos);
    const m = /[A-Za-z0-9_.@]+$/.exec(before);
    if (!m) return null;
    // After "field:" the word is a value, not a field.
    if (/:\s*$/.test(before.slice(0, m.index))) return null;
    return { start: m.index, end: pos, word: m[0] };
  };
  const close = () => { box.hidden = true; items = []; active = -1; input.setAttribute('aria-expanded', 'false'); input.removeAttribute('aria-activedescendant'); };
  const mark = () => {
    [...box.children].forEach((li, i) => li.setAttribute('aria-selected', String(i === active)));
    if (active >= 0) input.setAttribute('aria-activedescendant', 'suggest-' + active); else input.removeAttribute('aria-activedescendant');
  };
  const take = (name) => {
    const w = wordAt();
    if (!w) return close();
    input.value = input.value.slice(0, w.start) + name + ':' + input.value.slice(w.end);
    const at = w.start + name.length + 1;
    input.setSelectionRange(at, at);
    close();
    input.focus();
  };
  let seq = 0;
  const update = async () => {
    // Only the latest keystroke's list is shown (the field list may still be on its way).
    const mine = ++seq;
    await loadFields();
    if (mine !== seq) return;
    const w = wordAt();
    if (!w || w.word.length < 2) return close();
    const needle = w.word.toLowerCase();
    const all = [...knownFields].sort();
    const next = [...all.filter((f) => f.toLowerCase().startsWith(needle)), ...all.filter((f) => !f.toLowerCase().startsWith(needle) && f.toLowerCase().includes(needle))]
      .filter((f) => f.toLowerCase() !== needle).slice(0, 10);
    if (!next.length) return close();
    if (!box.hidden && next.join('\n') === items.join('\n')) return;
    items = next;
    active = -1;
    box.replaceChildren(...items.map((f, i) => h('li', { role: 'option', id: 'suggest-' + i, 'aria-selected': 'false', onmousedown: (ev) => { ev.preventDefault(); take(f); } }, f)));
    box.hidden = false;
    input.setAttribute('aria-expanded', 'true');
  };
  input.addEventListener('input', update);
  // Closed a moment after the focus leaves (a click on an option comes first), unless it came
  // back meanwhile.
  input.addEventListener('blur', () => setTimeout(() => { if (document.activeElement !== input) close(); }, 100));
  input.addEventListener('keydown', (ev) => {
    if (box.hidden) return;
    if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
      ev.preventDefault();
      active = (active + (ev.key === 'ArrowDown' ? 1 : -1) + items.length) % items.length;
      mark();
    } else if ((ev.key === 'Enter' || ev.key === 'Tab') && active >= 0) {
      ev.preventDefault();
      take(items[active]);
    } else if (ev.key === 'Escape') {
      ev.preventDefault();
      ev.stopPropagation();
      close();
    }
  });
  return box;
}

/** The event drawer of the Events page and of an alert's events: every field with `+`/`−`
 * (`actions.filter(field, value, negate)`) and Top (`actions.top(field)`, when given), and the
 * raw record. Tab stays inside it; Escape closes it and gives the focus back to its row. The
 * page's cleanup closes it. */
function eventDrawer(actions) {
  let opener = null;
  // This drawer's own element: a page rendered again while an earlier rendering was still
  // loading can leave that rendering's key handler behind, which must not close this one.
  let mine = null;
  const close = (refocus) => {
    const d = mine;
    mine = null;
    if (!d || !d.isConnected) return;
    d.remove();
    if (refocus === true && opener && opener.isConnected) opener.focus();
  };
  const open = (e, from) => {
    close();
    const other = $('#drawer');
    if (other) other.remove();
    opener = from || null;
    const f = flatten(e);
    const raw = f['event.original'];
    delete f['event.original'];
    const first = (k) => (Array.isArray(f[k]) ? f[k][0] : f[k]);
    const closeBtn = h('button', { type: 'button', onclick: () => close(true), 'aria-label': 'Close event' }, 'Close');
    const drawer = h('aside', { class: 'drawer', id: 'drawer', role: 'dialog', 'aria-label': 'Event' },
      h('div', { class: 'row' }, h('h2', { class: 'grow' }, 'Event'), closeBtn),
      h('table', { class: 'fields' }, h('tbody', {}, Object.keys(f).sort().map((k) => h('tr', {},
        h('td', {}, k),
        h('td', { class: 'val' }, valueText(f[k])),
        h('td', { class: 'act' },
          h('button', { type: 'button', class: 'small', title: `Add ${k}:value to the query`, 'aria-label': `Filter for ${k}`, onclick: () => { close(); actions.filter(k, first(k), false); } }, '+'),
          h('button', { type: 'button', class: 'small', title: `Exclude ${k}:value`, 'aria-label': `Filter out ${k}`, onclick: () => { close(); actions.filter(k, first(k), true); } }, '−'),
          actions.top ? h('button', { type: 'button', class: 'small', title: `Top values of ${k}`, onclick: () => { close(); actions.top(k); } }, 'Top') : null))))),
      h('h2', {}, 'Raw record'),
      raw ? h('pre', { class: 'raw' }, raw) : h('p', { class: 'muted' }, 'No raw record stored.'));
    drawer.setAttribute('aria-modal', 'true');
    // Tab and Shift+Tab stay inside the drawer while it is open.
    drawer.addEventListener('keydown', (ev) => {
      if (ev.key !== 'Tab') return;
      const els = [...drawer.querySelectorAll('button, a[href], input, select, textarea, [tabindex]:not([tabindex="-1"])')];
      if (!els.length) return;
      const a = els[0], z = els[els.length - 1];
      if (ev.shiftKey && document.activeElement === a) { ev.preventDefault(); z.focus(); }
      else if (!ev.shiftKey && document.activeElement === z) { ev.preventDefault(); a.focus(); }
    });
    document.body.append(drawer);
    mine = drawer;
    closeBtn.focus();
  };
  const onKey = (ev) => { if (ev.key === 'Escape' && mine && mine.isConnected) { ev.preventDefault(); close(true); } };
  document.addEventListener('keydown', onKey);
  cleanup.push(() => { document.removeEventListener('keydown', onKey); close(); });
  return { open, close };
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
    refresh: Number(params.get('refresh')) || 0,
  };
  const push = (replace) => {
    const p = new URLSearchParams();
    if (state.q) p.set('q', state.q);
    if (state.since) p.set('since', state.since);
    else { if (state.from) p.set('from', state.from); if (state.to) p.set('to', state.to); }
    if (state.cols.join(',') !== DEFAULT_COLUMNS.join(',')) p.set('cols', state.cols.join(','));
    if (state.refresh) p.set('refresh', String(state.refresh));
    go('/console/events?' + p.toString(), replace === true);
  };
  const timeBody = () => (state.since ? presetRange(state.since) : { from: state.from || undefined, to: state.to || undefined });
  if (state.q) rememberQuery(state.q);

  const qInput = h('input', { type: 'search', class: 'query', id: 'query', value: state.q, placeholder: 'e.g. event.dataset:web AND http.response.status_code:>=400   (press / to focus)', 'aria-label': 'Query', spellcheck: 'false', autocomplete: 'off',
    role: 'combobox', 'aria-autocomplete': 'list', 'aria-expanded': 'false', 'aria-controls': 'query-suggest' });
  const suggestBox = fieldCompletion(qInput);
  // Saved searches (own and shared) and this browser's recent queries.
  const searchesPanel = h('div', { id: 'searches', hidden: true });
  const toggleSearches = async () => {
    const btn = $('#searches-button');
    if (!searchesPanel.hidden) { searchesPanel.hidden = true; btn.setAttribute('aria-expanded', 'false'); return; }
    searchesPanel.hidden = false;
    btn.setAttribute('aria-expanded', 'true');
    await drawSearches();
  };
  const linkOf = (q, since, cols) => {
    const p = new URLSearchParams();
    if (q) p.set('q', q);
    p.set('since', since || '24h');
    if (cols) p.set('cols', cols);
    return '/console/events?' + p.toString();
  };
  const drawSearches = async () => {
    let saved = [];
    const msg = h('div');
    try { saved = (await api('GET', '/api/v1/searches')).items; } catch (e) { msg.append(errorBox(e)); }
    const name = h('input', { type: 'text', id: 'save-name', placeholder: 'name of this search', 'aria-label': 'Name of the saved search', required: true });
    const shared = h('input', { type: 'checkbox', id: 'save-shared' });
    const recent = recentQueries();
    searchesPanel.replaceChildren(h('div', { class: 'panel' },
      h('form', { class: 'row', id: 'save-search', onsubmit: async (ev) => {
        ev.preventDefault();
        try {
          await api('POST', '/api/v1/searches', { name: name.value, query: qInput.value.trim(), since: state.since || '', columns: state.cols.join(',') === DEFAULT_COLUMNS.join(',') ? '' : state.cols.join(','), shared: shared.checked });
          toast('Search saved');
          await drawSearches();
        } catch (e) { msg.replaceChildren(errorBox(e)); }
      } }, h('strong', {}, 'Save this search'), name, h('label', {}, shared, ' shared with every user'), h('button', { type: 'submit' }, 'Save')),
      msg,
      h('h2', {}, 'Saved searches'),
      saved.length ? h('ul', { id: 'saved-list', class: 'plain' }, saved.map((x) => h('li', { class: 'row' },
        h('a', { href: linkOf(x.query, x.since, x.columns) }, x.name),
        h('code', { class: 'mono muted' }, x.query || '*'),
        h('span', { class: 'muted' }, x.since ? presetLabel(x.since) : ''),
        x.shared ? h('span', { class: 'badge' }, `shared by ${x.owner}`) : h('span', { class: 'badge' }, 'mine'),
        x.owner === session.user || can('admin') ? h('button', { type: 'button', class: 'small danger', 'aria-label': 'Delete saved search ' + x.name, onclick: async () => {
          if (!confirm(`Delete the saved search “${x.name}”?`)) return;
          try { await api('DELETE', '/api/v1/searches/' + encodeURIComponent(x.id)); await drawSearches(); } catch (e) { msg.replaceChildren(errorBox(e)); }
        } }, 'Delete') : null))) : h('p', { class: 'muted' }, 'No saved search yet.'),
      h('h2', {}, 'Recent queries (this browser)'),
      recent.length ? h('ul', { id: 'recent-list', class: 'plain' }, recent.map((q) => h('li', {}, h('a', { class: 'mono', href: linkOf(q, state.since) }, q))))
        : h('p', { class: 'muted' }, 'No recent query.')));
    name.focus();
  };
  const qErr = h('div', { class: 'error', id: 'query-error', role: 'alert' });
  const qWarn = h('div', { class: 'warning', id: 'query-warning', role: 'status' });
  const preset = h('select', { id: 'range', 'aria-label': 'Time range' },
    PRESETS.map((p) => h('option', { value: p, selected: state.since === p }, presetLabel(p))),
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
  h('div', { class: 'row' }, h('div', { class: 'grow suggest-host' }, qInput, suggestBox), preset, abs, h('button', { type: 'submit', class: 'primary', id: 'search' }, 'Search'),
    h('button', { type: 'button', id: 'searches-button', 'aria-expanded': 'false', onclick: () => toggleSearches() }, 'Saved & recent')),
  qErr, qWarn, searchesPanel);
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
    h('div', { class: 'row' }, summary, h('span', { class: 'grow' }), topField, topBtn, colsBtn, exportBtns,
      refreshSelect(state.refresh, (sec) => { state.refresh = sec; push(true); })), exportNote, colsPanel, top, table, h('p', {}, more));
  // Auto-refresh re-runs the search, unless the analyst is reading an event or typing.
  autoRefresh(state.refresh, () => {
    if ($('#drawer') || document.activeElement === qInput || !colsPanel.hidden || !searchesPanel.hidden) return;
    render();
  });

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

  const drawer = eventDrawer({
    filter: (k, v, negate) => { state.q = addTerm(state.q, term(k, v, negate)); push(); },
    top: (k) => { topField.value = k; topValues(k); },
  });
  const openDrawer = drawer.open;

  const load = async (append) => {
    const r = await api('POST', '/api/v1/events/search', { query: state.q, ...timeBody(), limit: 50, cursor: append ? cursor : undefined });
    events = append ? events.concat(r.events) : r.events;
    learnFields(events);
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

/** Users alerts can be assigned to (asked once per page view). */
async function assignees() {
  try { return (await api('GET', '/api/v1/assignees')).items; } catch { return []; }
}

const ALERT_FILTERS = ['status', 'urgency', 'rule', 'rule_name', 'text', 'user', 'host', 'ip', 'assignee', 'entity'];

async function pageAlerts(main) {
  document.title = 'Alerts · ziaxdr';
  const p = new URLSearchParams(location.search);
  const f = Object.fromEntries(ALERT_FILTERS.map((k) => [k, p.get(k) || '']));
  // `assignee=-` in the URL: the unassigned alerts (the API's empty assignee).
  Object.assign(f, { open: p.get('open') === '1', sort: p.get('sort') || 'last_seen', dir: p.get('dir') || '', refresh: Number(p.get('refresh')) || 0 });
  const push = (replace) => {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(f)) if (v && !(k === 'sort' && v === 'last_seen') && !(k === 'dir' && v !== 'asc')) q.set(k, v === true ? '1' : String(v));
    go('/console/alerts?' + q.toString(), replace === true);
  };
  const users = await assignees();
  const status = h('select', { id: 'f-status', 'aria-label': 'Status', onchange: () => { f.status = status.value; push(); } },
    h('option', { value: '' }, 'Any status'), STATUSES.map((x) => h('option', { value: x, selected: f.status === x }, x)));
  const urg = h('select', { id: 'f-urgency', 'aria-label': 'Urgency', onchange: () => { f.urgency = urg.value; push(); } },
    h('option', { value: '' }, 'Any urgency'), ['critical', 'high', 'medium', 'low'].map((x) => h('option', { value: x, selected: f.urgency === x }, x)));
  const who = h('select', { id: 'f-assignee', 'aria-label': 'Assignee', onchange: () => { f.assignee = who.value; push(); } },
    h('option', { value: '' }, 'Anyone'), h('option', { value: '-', selected: f.assignee === '-' }, 'Unassigned'),
    users.map((u) => h('option', { value: u, selected: f.assignee === u }, u === session.user ? `${u} (me)` : u)));
  const input = (id, key, placeholder, label) => h('input', { type: 'text', id, value: f[key], placeholder, 'aria-label': label });
  const text = input('f-text', 'text', 'free text', 'Free text');
  const ruleName = input('f-rule-name', 'rule_name', 'rule name', 'Rule name');
  const user = input('f-user', 'user', 'user', 'User');
  const host = input('f-host', 'host', 'host', 'Host');
  const ip = input('f-ip', 'ip', 'IP', 'IP address');
  const rule = input('f-rule', 'rule', 'rule id', 'Rule id');
  const entity = input('f-entity', 'entity', 'entity', 'Entity');
  const openOnly = h('input', { type: 'checkbox', id: 'f-open', checked: f.open, onchange: () => { f.open = openOnly.checked; push(); } });
  put(main, h('h1', {}, 'Alerts'),
    h('form', { class: 'panel row', id: 'alert-filters', onsubmit: (ev) => {
      ev.preventDefault();
      Object.assign(f, { text: text.value.trim(), rule_name: ruleName.value.trim(), user: user.value.trim(), host: host.value.trim(), ip: ip.value.trim(), rule: rule.value.trim(), entity: entity.value.trim() });
      push();
    } },
    status, urg, who, h('label', {}, openOnly, ' open only'),
    // On a phone the text filters fold away unless one is in use.
    h('details', { class: 'more-filters', open: matchMedia('(min-width: 641px)').matches || ['text', 'rule_name', 'user', 'host', 'ip', 'rule', 'entity'].some((k) => f[k]) },
      h('summary', {}, 'Text filters'), h('div', { class: 'row' }, text, ruleName, user, host, ip, rule, entity)),
    h('button', { type: 'submit' }, 'Filter'),
    refreshSelect(f.refresh, (sec) => { f.refresh = sec; push(true); })));
  const LIMIT = 1000;
  const apiFilter = () => {
    const q = new URLSearchParams();
    for (const k of ALERT_FILTERS) if (k !== 'urgency' && f[k]) q.set(k, k === 'assignee' && f[k] === '-' ? '' : f[k]);
    return q;
  };
  const q = apiFilter();
  q.set('limit', String(LIMIT));
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
    const e = apiFilter();
    e.set('format', format);
    return '/api/v1/alerts/export?' + e.toString();
  };
  put(main, h('p', { class: 'row' }, h('span', { class: 'muted' }, 'Export these alerts (at most 10,000, newest first):'),
    h('a', { href: exportQuery('csv'), download: 'alerts.csv', id: 'alerts-export-csv' }, 'CSV'),
    h('a', { href: exportQuery('ndjson'), download: 'alerts.ndjson', id: 'alerts-export-ndjson' }, 'NDJSON')));
  // Bulk triage (analysts): select rows, then change their status or assignee at once.
  const selected = new Set();
  const triage = can('analyst');
  const count = h('span', { id: 'bulk-count' }, '0 selected');
  const bulkStatus = h('select', { id: 'bulk-status', 'aria-label': 'New status of the selected alerts' },
    h('option', { value: '' }, 'Set status…'), STATUSES.map((x) => h('option', { value: x }, x)));
  const bulkAssignee = h('select', { id: 'bulk-assignee', 'aria-label': 'Assign the selected alerts to' },
    h('option', { value: '' }, 'Assign to…'), h('option', { value: '-' }, 'Nobody'), users.map((u) => h('option', { value: u }, u === session.user ? `${u} (me)` : u)));
  const bulkMsg = h('div', { id: 'bulk-result', role: 'status' });
  const applyBulk = async () => {
    const body = { ids: [...selected] };
    if (bulkStatus.value) body.status = bulkStatus.value;
    if (bulkAssignee.value) body.assignee = bulkAssignee.value === '-' ? null : bulkAssignee.value;
    if (!body.ids.length || (!body.status && !('assignee' in body))) { bulkMsg.replaceChildren(h('p', { class: 'muted' }, 'Select alerts and a status or an assignee.')); return; }
    if ((body.status === 'Closed' || body.status === 'Rejected') && !confirm(`Set ${body.ids.length} alert(s) to ${body.status}? They stop gathering similar events (they can be reopened).`)) return;
    try {
      const res = await api('POST', '/api/v1/alerts/bulk', body);
      const failed = res.items.filter((x) => x.error);
      toast(`${res.changed} alert(s) changed`);
      if (failed.length) {
        sessionStorage.setItem('ziaxdr.bulk-failed', JSON.stringify(failed.slice(0, 20)));
      }
      render();
    } catch (e) { bulkMsg.replaceChildren(errorBox(e)); }
  };
  const allBox = h('input', { type: 'checkbox', id: 'select-all', 'aria-label': 'Select every alert shown' });
  const boxes = [];
  const sync = () => { count.textContent = `${selected.size} selected`; allBox.checked = boxes.length > 0 && selected.size === boxes.length; };
  allBox.addEventListener('change', () => { for (const [b, id] of boxes) { b.checked = allBox.checked; if (allBox.checked) selected.add(id); else selected.delete(id); } sync(); });
  if (triage) {
    put(main, h('div', { class: 'panel row', id: 'bulk' }, h('strong', {}, 'Selected alerts:'), count, bulkStatus, bulkAssignee,
      h('button', { type: 'button', class: 'primary', id: 'bulk-apply', onclick: applyBulk }, 'Apply')), bulkMsg);
    const failed = JSON.parse(sessionStorage.getItem('ziaxdr.bulk-failed') || '[]');
    sessionStorage.removeItem('ziaxdr.bulk-failed');
    if (failed.length) bulkMsg.replaceChildren(h('div', { class: 'warning panel', role: 'alert' }, `Not changed: ${failed.map((x) => `${x.id} (${x.error})`).join('; ')}`));
  }
  const partial = r.items.length < total;
  put(main, h('p', { class: 'muted', id: 'alerts-count' }, partial
    ? `${items.length} alert(s) among the first ${r.items.length.toLocaleString('en')} of ${total.toLocaleString('en')} (newest first; narrow the filters to see the others)`
    : `${items.length} alert(s)`),
    h('div', { class: 'tablewrap' }, h('table', { id: 'alerts' },
      h('thead', {}, h('tr', {}, triage ? h('th', {}, allBox) : null, h('th', {}, 'Id'), h('th', {}, 'Title'), sortHead('Urgency', 'urgency'), h('th', {}, 'Status'), h('th', {}, 'Assignee'), h('th', { class: 'hide-narrow' }, 'Rule'),
        h('th', { class: 'hide-narrow' }, 'Entity'), h('th', { class: 'hide-narrow' }, 'Source → target'), sortHead('Similar', 'similar'), sortHead('Last seen', 'last_seen'))),
      h('tbody', {}, items.map((a) => {
        let cell = null;
        if (triage) {
          const b = h('input', { type: 'checkbox', class: 'pick', 'aria-label': 'Select ' + a.short_id, value: a.uuid });
          b.addEventListener('change', () => { if (b.checked) selected.add(a.uuid); else selected.delete(a.uuid); sync(); });
          boxes.push([b, a.uuid]);
          cell = h('td', {}, b);
        }
        const tr = h('tr', { class: 'clickable', tabindex: '0' }, cell,
          h('td', { class: 'mono id' }, h('a', { href: '/console/alerts/' + a.short_id }, a.short_id)),
          h('td', {}, a.title),
          h('td', { class: 'urgency' }, h('span', { class: 'badge ' + urgencyBand(a.urgency) }, `${urgencyBand(a.urgency)} ${a.urgency}`)),
          h('td', {}, a.status),
          h('td', {}, a.assignee || h('span', { class: 'muted' }, '–')),
          h('td', { class: 'hide-narrow' }, h('a', { href: '/console/alerts?' + new URLSearchParams({ rule: a.rule.id }), title: 'alerts of this rule' }, a.rule.name), h('div', { class: 'muted' }, a.rule.type)),
          h('td', { class: 'hide-narrow' }, a.entity),
          h('td', { class: 'hide-narrow mono' }, `${a.source || '–'} → ${a.target || '–'}`),
          h('td', {}, a.similar),
          h('td', {}, fmtTime(a.last_seen)));
        const inControl = (ev) => ev.target.closest('a, input, button, select');
        tr.addEventListener('click', (ev) => { if (!inControl(ev)) go('/console/alerts/' + a.short_id); });
        tr.addEventListener('keydown', (ev) => { if (ev.key === 'Enter' && !inControl(ev)) go('/console/alerts/' + a.short_id); });
        return tr;
      })))),
    items.length ? null : h('p', { class: 'muted' }, 'No alert matches these filters.'));
  // Auto-refresh reloads the list, unless alerts are selected or a filter is being typed.
  autoRefresh(f.refresh, () => {
    if (selected.size || (document.activeElement && document.activeElement.closest('#alert-filters, #bulk'))) return;
    render();
  });
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
  // Assignment (analysts): to a user, to oneself, or to nobody.
  let assignBox = null;
  if (can('analyst')) {
    const users = await assignees();
    const pick = h('select', { id: 'assign-to', 'aria-label': 'Assign to' }, h('option', { value: '' }, 'nobody'),
      users.map((u) => h('option', { value: u, selected: a.assignee === u }, u)));
    const assign = async (to) => {
      try {
        await api('POST', `/api/v1/alerts/${a.uuid}/assignee`, { assignee: to || null });
        toast(to ? `Assigned to ${to}` : 'Unassigned');
        render();
      } catch (e) { err.replaceChildren(errorBox(e)); }
    };
    assignBox = h('div', { class: 'row', id: 'assign' }, h('span', {}, 'Assign to'), pick,
      h('button', { type: 'button', id: 'assign-apply', onclick: () => assign(pick.value) }, 'Assign'),
      a.assignee !== session.user ? h('button', { type: 'button', id: 'assign-me', onclick: () => assign(session.user) }, 'Assign to me') : null);
  }
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
      h('dt', {}, 'Assignee'), h('dd', { id: 'alert-assignee' }, a.assignee || 'nobody'),
      h('dt', {}, 'Rule'), h('dd', {}, a.rule.type === 'sigma'
        ? h('a', { id: 'rule-link', href: '/console/rules/' + encodeURIComponent(a.rule.id) }, a.rule.name) : a.rule.name,
        ` (${a.rule.type}, ${a.rule.id}) `,
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
    actions, assignBox, err),
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
    // A row opens the event in the drawer; its + and − search the events around the alert.
    const aroundFrom = new Date(new Date(a.first_seen).getTime() - 3600000).toISOString();
    const aroundTo = new Date(new Date(a.last_seen).getTime() + 3600000).toISOString();
    const drawer = eventDrawer({
      filter: (k, v, negate) => go('/console/events?' + new URLSearchParams({ q: term(k, v, negate), from: aroundFrom, to: aroundTo })),
    });
    const row = (e, idx) => {
      const f = flatten(e);
      const tr = h('tr', { class: 'clickable', tabindex: '0', 'aria-label': 'Open event ' + (idx + 1) }, cols.map((c) => h('td', { class: 'mono' }, c === '@timestamp' ? fmtTime(f[c]) : valueText(f[c]))));
      tr.addEventListener('click', () => drawer.open(e, tr));
      tr.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') { ev.preventDefault(); drawer.open(e, tr); } });
      return tr;
    };
    evBox.replaceChildren(h('p', {}, h('a', { href: '/console/events?' + new URLSearchParams({ q: query, from, to }) }, 'Open these events in the search')),
      h('table', { id: 'alert-events-table' }, h('thead', {}, h('tr', {}, cols.map((c) => h('th', {}, c)))),
        h('tbody', {}, r.events.map(row))));
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
        h('td', {}, x.id ? h('a', { href: '/console/rules/' + encodeURIComponent(x.id) }, x.title) : x.title, h('div', { class: 'muted mono' }, x.id)),
        h('td', {}, x.status === 'loaded' ? h('span', { class: 'badge ok' }, 'loaded') : h('span', { class: 'badge bad', title: x.reason || '' }, 'unsupported'), x.reason ? h('div', { class: 'muted' }, x.reason) : null),
        h('td', { class: 'hide-narrow' }, x.level || ''),
        h('td', { class: 'hide-narrow' }, x.author || ''),
        h('td', {}, x.hits ? h('a', { href: '/console/alerts?' + new URLSearchParams({ rule: x.id }), title: 'the alerts of this rule' }, String(x.hits)) : '0',
          x.last_hit ? h('div', { class: 'muted' }, ago(x.last_hit)) : null),
        h('td', {}, x.status === 'loaded' && can('analyst') ? h('button', { type: 'button', class: 'small', onclick: () => run(x) }, 'Run') : null));
    }));
  };
  filter.addEventListener('input', draw);
  put(main, h('div', { class: 'tablewrap' }, h('table', { id: 'rules' },
    h('thead', {}, h('tr', {}, ['On', 'Rule', 'Status', 'Level', 'Author', 'Hits', ''].map((x, i) => h('th', { class: i === 3 || i === 4 ? 'hide-narrow' : '' }, x)))), tbody)));
  draw();
}

async function pageRule(main, id) {
  const [r, src] = await Promise.all([
    api('GET', '/api/v1/rules/' + encodeURIComponent(id)),
    api('GET', `/api/v1/rules/${encodeURIComponent(id)}/source`).catch((e) => ({ error: e })),
  ]);
  document.title = `${r.title} · ziaxdr`;
  const alerts = await api('GET', '/api/v1/alerts?' + new URLSearchParams({ rule: r.id, limit: '1' })).catch(() => null);
  put(main, h('p', {}, h('a', { href: '/console/rules' }, '← Rules')),
    h('h1', {}, r.title),
    h('div', { class: 'panel' }, h('dl', { class: 'kv' },
      h('dt', {}, 'Id'), h('dd', { class: 'mono' }, r.id),
      h('dt', {}, 'Status'), h('dd', {}, r.status, r.reason ? ` — ${r.reason}` : ''),
      h('dt', {}, 'Enabled'), h('dd', {}, r.enabled === false ? 'no' : 'yes'),
      h('dt', {}, 'Type'), h('dd', {}, r.type || ''),
      h('dt', {}, 'Level'), h('dd', {}, r.level || '–'),
      h('dt', {}, 'Author'), h('dd', {}, r.author || '–'),
      h('dt', {}, 'Log source'), h('dd', { class: 'mono' }, r.logsource || '–'),
      h('dt', {}, 'Hits'), h('dd', { id: 'rule-hits' }, String(r.hits ?? 0), r.last_hit ? ` (last ${ago(r.last_hit)})` : ''),
      h('dt', {}, 'Alerts'), h('dd', {}, h('a', { id: 'rule-alerts-link', href: '/console/alerts?' + new URLSearchParams({ rule: r.id }) },
        alerts ? `${(alerts.total ?? 0).toLocaleString('en')} alert(s)` : 'its alerts')),
      h('dt', {}, 'File'), h('dd', { class: 'mono' }, r.source || '–'))),
    h('h2', {}, 'Sigma source'),
    src.error ? errorBox(src.error) : h('pre', { class: 'raw', id: 'rule-source' }, src.text));
}

async function pageCti(main) {
  document.title = 'CTI · ziaxdr';
  const [r, feeds] = await Promise.all([api('GET', '/api/v1/cti/sources'), api('GET', '/api/v1/cti/feeds').catch(() => ({ items: [] }))]);
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
  put(main, out, h('h2', {}, 'Imported'), h('div', { class: 'tablewrap' }, h('table', { id: 'cti-sources' },
    h('thead', {}, h('tr', {}, ['Source', 'Imported', 'Indicators', 'Active'].map((x) => h('th', {}, x)))),
    h('tbody', {}, (r.items || []).map((x) => h('tr', {}, h('td', { class: 'mono' }, x.name || x.source), h('td', {}, fmtTime(x.imported_at)), h('td', {}, x.indicators ?? x.count ?? 0), h('td', {}, x.active ?? '')))))),
  (r.items || []).length ? null : h('p', { class: 'muted' }, 'No indicator imported yet.'));

  // Registered sources: TAXII collections and feeds the server polls.
  const feedMsg = h('div');
  const feedState = (x) => (!x.last_run ? h('span', { class: 'badge' }, 'not polled yet')
    : x.last_error ? h('span', { class: 'badge bad', title: x.last_error }, 'failing') : h('span', { class: 'badge ok' }, 'ok'));
  put(main, h('h2', {}, 'Sources polled by the server'));
  if (can('admin')) {
    const url = h('input', { type: 'text', id: 'feed-url', placeholder: 'URL of a TAXII 2.1 collection or STIX feed', 'aria-label': 'Source URL (TAXII 2.1 collection or STIX feed)', required: true });
    const every = h('select', { id: 'feed-every', 'aria-label': 'Polled every' }, ['15m', '30m', '1h', '6h', '1d'].map((x) => h('option', { value: x, selected: x === '1h' }, 'every ' + x)));
    const tokenEnv = h('input', { type: 'text', id: 'feed-token-env', placeholder: 'token env variable (optional)', 'aria-label': 'Environment variable of the server holding the bearer token' });
    put(main, h('form', { class: 'panel row', id: 'feed-add', onsubmit: async (ev) => {
      ev.preventDefault();
      try {
        await api('POST', '/api/v1/cti/feeds', { url: url.value.trim(), every: every.value, token_env: tokenEnv.value.trim() || undefined });
        toast('Source registered');
        render();
      } catch (e) { feedMsg.replaceChildren(errorBox(e)); }
    } }, h('strong', {}, 'Add a source'), url, every, tokenEnv, h('button', { type: 'submit', class: 'primary' }, 'Add')));
  }
  put(main, feedMsg, h('div', { class: 'tablewrap' }, h('table', { id: 'cti-feeds' },
    h('thead', {}, h('tr', {}, ['URL', 'Every', 'Status', 'Last run', 'Last success', 'Last error', 'Seen / changed', ''].map((x) => h('th', {}, x)))),
    h('tbody', {}, feeds.items.map((x) => h('tr', {},
      h('td', { class: 'mono' }, x.url, x.token_env ? h('div', { class: 'muted' }, `token from $${x.token_env}`) : null),
      h('td', {}, interval(x.every_secs)),
      h('td', {}, feedState(x)),
      h('td', {}, x.last_run ? ago(x.last_run) : 'never'),
      h('td', {}, x.last_ok ? fmtTime(x.last_ok) : '–'),
      h('td', { class: 'error' }, x.last_error || ''),
      h('td', {}, `${x.last_seen} / ${x.last_changed}`),
      h('td', {}, can('admin') ? h('button', { type: 'button', class: 'small danger', 'aria-label': 'Remove source ' + x.url, onclick: async () => {
        if (!confirm(`Stop polling ${x.url}? Its indicators stay.`)) return;
        try { await api('DELETE', '/api/v1/cti/feeds?' + new URLSearchParams({ url: x.url })); render(); } catch (e) { feedMsg.replaceChildren(errorBox(e)); }
      } }, 'Remove') : null)))))),
  feeds.items.length ? null : h('p', { class: 'muted' }, 'No source registered (admins add them here, or with ziaxdr cti source add URL --every 1h).'));

  // The indicator browser: search, add one by hand, revoke.
  put(main, h('h2', {}, 'Indicators'));
  const indMsg = h('div');
  if (can('analyst')) {
    const kind = h('select', { id: 'ind-type', 'aria-label': 'Indicator type' },
      [['domain-name', 'Domain'], ['url', 'URL'], ['ipv4-addr', 'IPv4 address'], ['ipv6-addr', 'IPv6 address'], ['file-sha256', 'File SHA-256'], ['file-sha1', 'File SHA-1'], ['file-md5', 'File MD5']]
        .map(([v, l]) => h('option', { value: v }, l)));
    const value = h('input', { type: 'text', id: 'ind-value', placeholder: 'value, e.g. evil.example', 'aria-label': 'Indicator value', required: true });
    const name = h('input', { type: 'text', id: 'ind-name', placeholder: 'name (optional)', 'aria-label': 'Indicator name' });
    const days = h('input', { type: 'text', id: 'ind-days', inputmode: 'numeric', placeholder: 'valid days (optional)', 'aria-label': 'Valid for days', size: '10' });
    const conf = h('input', { type: 'text', id: 'ind-confidence', inputmode: 'numeric', placeholder: 'confidence 0-100', 'aria-label': 'Confidence (alert urgency)', size: '10' });
    put(main, h('form', { class: 'panel row', id: 'ind-add', onsubmit: async (ev) => {
      ev.preventDefault();
      try {
        const ind = await api('POST', '/api/v1/cti/indicators', {
          type: kind.value, value: value.value.trim(), name: name.value.trim() || undefined,
          valid_days: days.value ? Number(days.value) : undefined, confidence: conf.value ? Number(conf.value) : undefined });
        toast(`Indicator added: ${ind.pattern}`);
        search.value = value.value.trim();
        value.value = name.value = '';
        await find();
      } catch (e) { indMsg.replaceChildren(errorBox(e)); }
    } }, h('strong', {}, 'Add an indicator'), kind, value, name, days, conf, h('button', { type: 'submit', class: 'primary' }, 'Add')));
  }
  const search = h('input', { type: 'search', id: 'ind-search', placeholder: 'search id, name, pattern, label, author', 'aria-label': 'Search indicators' });
  const state = h('select', { id: 'ind-state', 'aria-label': 'Indicator state' }, ['', 'active', 'inactive', 'revoked', 'unsupported'].map((x) => h('option', { value: x }, x || 'any state')));
  const list = h('div', { id: 'indicators' });
  const find = async () => {
    const q = new URLSearchParams({ limit: '200' });
    if (search.value.trim()) q.set('q', search.value.trim());
    if (state.value) q.set('state', state.value);
    try {
      const res = await api('GET', '/api/v1/cti/indicators?' + q);
      list.replaceChildren(h('p', { class: 'muted', id: 'ind-count' }, res.total > res.items.length ? `first ${res.items.length} of ${res.total}` : `${res.items.length} indicator(s)`),
        h('div', { class: 'tablewrap' }, h('table', { id: 'ind-table' },
          h('thead', {}, h('tr', {}, ['Name', 'Pattern', 'State', 'Valid until', 'Confidence', ''].map((x) => h('th', {}, x)))),
          h('tbody', {}, res.items.map((i) => h('tr', {},
            h('td', {}, i.name, h('div', { class: 'muted mono' }, i.id)),
            h('td', { class: 'mono' }, i.pattern),
            h('td', {}, h('span', { class: 'badge ' + (i.state === 'active' ? 'ok' : i.state === 'revoked' ? 'bad' : ''), title: i.reason || '' }, i.state)),
            h('td', {}, i.valid_until ? fmtTime(i.valid_until) : '–'),
            h('td', {}, i.confidence ?? '–'),
            h('td', {}, can('analyst') && i.state !== 'revoked' ? h('button', { type: 'button', class: 'small danger', 'aria-label': 'Revoke ' + i.name, onclick: async () => {
              if (!confirm(`Revoke “${i.name}”? It stops matching within seconds.`)) return;
              try { await api('POST', `/api/v1/cti/indicators/${encodeURIComponent(i.id)}/revoke`); toast('Revoked'); await find(); } catch (e) { indMsg.replaceChildren(errorBox(e)); }
            } }, 'Revoke') : null)))))));
    } catch (e) { list.replaceChildren(errorBox(e)); }
  };
  put(main, indMsg, h('form', { class: 'row', id: 'ind-find', role: 'search', onsubmit: (ev) => { ev.preventDefault(); find(); } }, search, state, h('button', { type: 'submit' }, 'Search')), list);
  state.addEventListener('change', find);
  await find();
}

// ---- settings: password, API tokens, users ----

async function pageSettings(main) {
  document.title = 'Settings · ziaxdr';
  put(main, h('h1', {}, 'Settings'));
  const cur = h('input', { type: 'password', id: 'pw-current', autocomplete: 'current-password', 'aria-label': 'Current password', placeholder: 'current password' });
  const nw = h('input', { type: 'password', id: 'pw-new', autocomplete: 'new-password', 'aria-label': 'New password (12 characters or more)', placeholder: 'new password (12+)' });
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
    h('p', { class: 'muted' }, 'Send as Authorization: Bearer <token> to the /api/v1 routes. A token acts for the user who made it: it stops while that user is disabled, goes when they are deleted, and never has more than their role.'),
    h('form', { class: 'row', onsubmit: async (ev) => {
      ev.preventDefault();
      try { const n = await api('POST', '/api/v1/tokens', { name: tName.value, role: tRole.value }); tOut.replaceChildren(h('div', { class: 'panel keybox' }, h('strong', {}, 'Token — shown only now'), copyRow(n.token.name, n.secret))); } catch (e) { tOut.replaceChildren(errorBox(e)); }
    } }, tName, tRole, h('button', { type: 'submit' }, 'Create token')), tOut,
    h('div', { class: 'tablewrap' }, h('table', { id: 'tokens' }, h('thead', {}, h('tr', {}, ['Name', 'Role', 'Created by', 'Acts for', 'Created', 'Last used', ''].map((x) => h('th', {}, x)))),
      h('tbody', {}, tokens.items.map((t) => h('tr', {}, h('td', {}, t.name), h('td', {}, t.role), h('td', {}, t.created_by),
        h('td', {}, t.owner || '(the server\'s admin token)', t.usable ? null : [' ', h('span', { class: 'badge bad' }, 'refused: user disabled')]), h('td', {}, fmtTime(t.created_at)), h('td', {}, fmtTime(t.last_used_at)),
        h('td', {}, h('button', { type: 'button', class: 'small danger', onclick: async () => { if (confirm(`Revoke ${t.name}?`)) { await api('DELETE', '/api/v1/tokens/' + t.id); render(); } } }, 'Revoke'))))))),
    tokens.items.length ? null : h('p', { class: 'muted' }, 'No API token yet.')));
  const uName = h('input', { type: 'text', id: 'user-name', placeholder: 'user name', 'aria-label': 'User name', required: true });
  const uRole = h('select', { id: 'user-role', 'aria-label': 'User role' }, ['analyst', 'read-only', 'admin'].map((x) => h('option', { value: x }, x)));
  const uPass = h('input', { type: 'password', id: 'user-password', placeholder: 'initial password (12+)', 'aria-label': 'Initial password', autocomplete: 'new-password', required: true });
  const uOut = h('div');
  put(main, h('div', { class: 'panel' }, h('h2', {}, 'Users'),
    h('form', { class: 'row', onsubmit: async (ev) => {
      ev.preventDefault();
      try { await api('POST', '/api/v1/users', { name: uName.value, role: uRole.value, password: uPass.value }); render(); } catch (e) { uOut.replaceChildren(errorBox(e)); }
    } }, uName, uRole, uPass, h('button', { type: 'submit' }, 'Add user')), uOut,
    h('div', { class: 'tablewrap' }, h('table', { id: 'users' }, h('thead', {}, h('tr', {}, ['Name', 'Role', 'Status', 'Created', ''].map((x) => h('th', {}, x)))),
      h('tbody', {}, users.items.map((u) => userRow(u, uOut)))))));
}

/** A row of the user administration: the role (changed at once), disable/enable, a
 * password reset (which signs the user out everywhere) and deletion; not for oneself. */
function userRow(u, out) {
  const me = u.name === session.user;
  const change = async (body, done) => {
    try { await api('PATCH', '/api/v1/users/' + encodeURIComponent(u.name), body); toast(done); render(); } catch (e) { out.replaceChildren(errorBox(e)); }
  };
  const role = h('select', { 'aria-label': 'Role of ' + u.name, class: 'user-role', disabled: me }, ['admin', 'analyst', 'read-only'].map((x) => h('option', { value: x, selected: x === u.role }, x)));
  role.addEventListener('change', () => {
    if (!confirm(`Make ${u.name} ${role.value}? It applies to their open sessions at once.`)) { role.value = u.role; return; }
    change({ role: role.value }, `${u.name} is now ${role.value}`);
  });
  const pw = h('input', { type: 'password', class: 'reset-password', 'aria-label': 'New password for ' + u.name, placeholder: 'new password (12+)', autocomplete: 'new-password', hidden: true });
  const save = h('button', { type: 'button', class: 'small', hidden: true, onclick: () => change({ password: pw.value }, `Password of ${u.name} reset; they are signed out`) }, 'Save password');
  const reset = h('button', { type: 'button', class: 'small', onclick: () => { pw.hidden = save.hidden = false; reset.hidden = true; pw.focus(); } }, 'Reset password');
  return h('tr', { dataset: { user: u.name } }, h('td', {}, u.name), h('td', {}, role),
    h('td', {}, u.disabled ? h('span', { class: 'badge bad' }, 'disabled') : h('span', { class: 'badge ok' }, 'active')),
    h('td', {}, fmtTime(u.created_at)),
    h('td', {}, h('div', { class: 'row' }, me ? h('span', { class: 'muted' }, 'you') : [
      reset, pw, save,
      h('button', { type: 'button', class: 'small user-disable', onclick: () => {
        if (!u.disabled && !confirm(`Disable ${u.name}? They are signed out, their API tokens stop, and they cannot sign in until enabled again.`)) return;
        change({ disabled: !u.disabled }, `${u.name} ${u.disabled ? 'enabled' : 'disabled'}`);
      } }, u.disabled ? 'Enable' : 'Disable'),
      h('button', { type: 'button', class: 'small danger', onclick: async () => { if (confirm(`Delete ${u.name}?`)) { try { await api('DELETE', '/api/v1/users/' + encodeURIComponent(u.name)); render(); } catch (e) { out.replaceChildren(errorBox(e)); } } } }, 'Delete')])));
}

render();
