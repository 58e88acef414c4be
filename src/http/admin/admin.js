// restable admin page. Plain JavaScript, no dependencies, served by the binary.
// It talks to the public API only (GET /, /_schema/{service}, /{service}, /{service}/{key}),
// so it sees exactly what any other client sees: the same limits, auth and hidden columns.
// Numbers are kept as the text the server sent (never parsed into floats), and bodies are
// written as text, so decimals stay exact both ways.
'use strict';

const PAGE_SIZES = [10, 25, 50, 100];
const TOKEN_KEY = 'restable.token';
const $ = (sel, root = document) => root.querySelector(sel);

// ---------------------------------------------------------------------------------------
// Lossless JSON: numbers become Num (their text); everything else as JSON.parse gives it.
// ---------------------------------------------------------------------------------------

class Num {
  constructor(text) { this.text = text; }
  toString() { return this.text; }
}

function parseJSON(text) {
  let i = 0;
  const ws = () => { while (i < text.length && ' \t\n\r'.includes(text[i])) i++; };
  const fail = () => { throw new SyntaxError('invalid JSON at ' + i); };
  function value() {
    ws();
    const c = text[i];
    if (c === '{') {
      i++; const o = {}; ws();
      if (text[i] === '}') { i++; return o; }
      for (;;) {
        ws(); if (text[i] !== '"') fail();
        const k = string(); ws(); if (text[i++] !== ':') fail();
        o[k] = value(); ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === '}') { i++; return o; }
        fail();
      }
    }
    if (c === '[') {
      i++; const a = []; ws();
      if (text[i] === ']') { i++; return a; }
      for (;;) {
        a.push(value()); ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === ']') { i++; return a; }
        fail();
      }
    }
    if (c === '"') return string();
    if (text.startsWith('true', i)) { i += 4; return true; }
    if (text.startsWith('false', i)) { i += 5; return false; }
    if (text.startsWith('null', i)) { i += 4; return null; }
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (!m) fail();
    i += m[0].length;
    return new Num(m[0]);
  }
  function string() {
    const start = i++;
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    if (i >= text.length) fail();
    i++;
    return JSON.parse(text.slice(start, i));
  }
  const v = value(); ws();
  if (i !== text.length) fail();
  return v;
}

// JSON text of a value from parseJSON (numbers written back as they came).
function toJSON(v, indent = '') {
  if (v instanceof Num) return v.text;
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  const inner = indent ? indent + '  ' : '';
  const nl = indent ? '\n' : '';
  if (Array.isArray(v)) {
    if (!v.length) return '[]';
    return '[' + nl + v.map(x => inner + toJSON(x, inner)).join(',' + nl) + nl + indent.slice(2) + ']';
  }
  const keys = Object.keys(v);
  if (!keys.length) return '{}';
  return '{' + nl + keys.map(k => inner + JSON.stringify(k) + (indent ? ': ' : ':') + toJSON(v[k], inner)).join(',' + nl) + nl + indent.slice(2) + '}';
}
const pretty = v => toJSON(v, '  ');

// ---------------------------------------------------------------------------------------
// Small DOM helper
// ---------------------------------------------------------------------------------------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

// ---------------------------------------------------------------------------------------
// The API client: every request is logged as a curl command.
// ---------------------------------------------------------------------------------------

const token = () => sessionStorage.getItem(TOKEN_KEY) || '';
let busyCount = 0;
let busyTimer = null;

function setBusy(delta) {
  busyCount += delta;
  const el = $('#busy');
  if (busyCount > 0) {
    document.body.setAttribute('aria-busy', 'true');
    if (!busyTimer) busyTimer = setTimeout(() => { el.textContent = 'Loading…'; el.classList.add('on'); }, 150);
  } else {
    busyCount = 0;
    document.body.removeAttribute('aria-busy');
    clearTimeout(busyTimer); busyTimer = null;
    el.textContent = ''; el.classList.remove('on');
  }
}

const shq = s => "'" + String(s).replace(/'/g, "'\\''") + "'";

function curlOf(method, url, headers, body) {
  const parts = ['curl'];
  if (method === 'HEAD') parts.push('-I');
  else if (method !== 'GET') parts.push('-X ' + method);
  parts.push(shq(new URL(url, location.href).href));
  for (const [k, v] of Object.entries(headers)) {
    if (k === 'Authorization') parts.push('-H "Authorization: Bearer $TOKEN"');
    else parts.push('-H ' + shq(k + ': ' + v));
  }
  if (body !== undefined) parts.push('-d ' + shq(body));
  return parts.join(' ');
}

function logRequest(method, url, headers, body, status) {
  const cmd = curlOf(method, url, headers, body);
  const list = $('#request-log');
  const copy = h('button', {
    type: 'button', class: 'small', text: 'Copy curl',
    onclick: () => copyText(cmd, copy),
  });
  const item = h('li', {},
    h('div', { class: 'req-head' },
      h('span', { class: 'status s' + String(status)[0], text: status || 'error' }),
      h('code', { text: method + ' ' + url }), copy),
    h('pre', { class: 'curl', text: cmd }));
  list.prepend(item);
  while (list.children.length > 12) list.lastChild.remove();
  return cmd;
}

async function copyText(text, button) {
  try {
    await navigator.clipboard.writeText(text);
    if (button) { button.textContent = 'Copied'; setTimeout(() => { button.textContent = 'Copy curl'; }, 1200); }
  } catch (_) {
    // No clipboard (plain http on another host): select the text instead.
    const pre = button && button.closest('li, .curl-box');
    const target = pre && pre.querySelector('pre');
    if (target) window.getSelection().selectAllChildren(target);
  }
}

class ApiError extends Error {
  constructor(status, body, text, headers) {
    super((body && body.message) || text || ('HTTP ' + status));
    this.status = status;
    this.body = body;
    this.headers = headers || new Headers();
  }
}

// One request. Returns {status, headers, text, data} for 2xx/3xx; throws ApiError otherwise.
async function api(method, url, { headers = {}, body, raw = false } = {}) {
  const hs = { ...headers };
  if (body !== undefined) hs['Content-Type'] = 'application/json';
  if (token()) hs.Authorization = 'Bearer ' + token();
  setBusy(1);
  let resp;
  try {
    resp = await fetch(url, { method, headers: hs, body, cache: 'no-store' });
  } catch (e) {
    logRequest(method, url, hs, body, 0);
    throw new ApiError(0, { code: 'network', message: 'The server cannot be reached: ' + e.message });
  } finally {
    setBusy(-1);
  }
  const cmd = logRequest(method, url, hs, body, resp.status);
  const text = raw && resp.ok ? null : await resp.text();
  let data = null;
  if (text && (resp.headers.get('content-type') || '').includes('json')) {
    try { data = parseJSON(text); } catch (_) { data = null; }
  }
  if (!resp.ok && resp.status !== 304) throw new ApiError(resp.status, data, text, resp.headers);
  return { status: resp.status, headers: resp.headers, text, data, resp, curl: cmd };
}

// A readable message for an error, with what to do about it.
function describeError(e) {
  const b = e.body || {};
  const code = b.code ? ' ' + b.code : '';
  let what = b.message || e.message;
  if (e.status === 0) return b.message;
  if (e.status === 503) what = 'The database is unavailable right now (' + (b.message || 'db_unavailable') + '). Try again in a moment.';
  else if (e.status === 504) what = 'The database took too long to answer (' + (b.message || 'timeout') + ').';
  else if (e.status === 401) what = 'This needs a token: enter one above. (' + (b.message || 'unauthorized') + ')';
  else if (e.status === 403) what = 'The token is not allowed to do this. (' + (b.message || 'forbidden') + ')';
  const details = typeof b.details === 'string' ? b.details : '';
  return `${e.status}${code}: ${what}${details ? ' — ' + details : ''}${b.hint ? ' (hint: ' + b.hint + ')' : ''}`;
}

function errorBox(e, extra) {
  return h('div', { class: 'error', role: 'alert' }, h('strong', { text: 'Error ' }), describeError(e),
    Array.isArray(e.body && e.body.details)
      ? h('ul', {}, e.body.details.map(d => h('li', { text: (d.path ? d.path + ': ' : '') + d.message })))
      : null,
    extra || null);
}

// ---------------------------------------------------------------------------------------
// Services and schemas
// ---------------------------------------------------------------------------------------

let services = null; // name -> {name, url, methods}
const schemas = new Map(); // name -> schema document (promise)

async function loadServices() {
  const r = await api('GET', '/');
  services = new Map();
  for (const s of (r.data && r.data.services) || []) services.set(s.name, s);
  renderNav();
  return services;
}

function schemaOf(name) {
  if (!schemas.has(name)) {
    const p = api('GET', '/_schema/' + encodeURIComponent(name)).then(r => r.data);
    p.catch(() => schemas.delete(name));
    schemas.set(name, p);
  }
  return schemas.get(name);
}

const allows = (name, m) => !!(services && services.get(name) && services.get(name).methods.includes(m));

// What kind of input and which operators a column gets, from its JSON Schema.
function kindOf(prop) {
  const types = [].concat(prop.type || []);
  const t = types.find(x => x !== 'null');
  if (prop.enum) return 'enum';
  if (!t) return 'json';
  if (t === 'integer') return 'integer';
  if (t === 'number') return /numeric|decimal|money/i.test(prop.description || '') ? 'decimal' : 'number';
  if (t === 'boolean') return 'boolean';
  if (prop.contentEncoding === 'base64') return 'bytes';
  if (prop.format === 'date') return 'date';
  if (prop.format === 'date-time') return 'datetime';
  if (prop.format === 'time') return 'time';
  if (prop.format === 'uuid') return 'uuid';
  return 'text';
}
const nullable = prop => [].concat(prop.type || []).includes('null') || kindOf(prop) === 'json';

function columnsOf(schema) {
  const props = schema.properties || {};
  const names = (schema['x-column-order'] || Object.keys(props)).filter(n => n in props);
  return names.map(name => [name, props[name]]).map(([name, prop]) => ({
    name, prop, kind: kindOf(prop), nullable: nullable(prop),
    readOnly: !!prop.readOnly, required: (schema.required || []).includes(name),
  }));
}

const OPS = {
  eq: 'equals', neq: 'not equal', gt: '>', gte: '≥', lt: '<', lte: '≤',
  like: 'like (* wildcard)', ilike: 'ilike (any case)', match: 'regex', imatch: 'regex (any case)',
  in: 'in list (a,b,c)', 'is.null': 'is null', 'is.not_null': 'is not null',
  'is.true': 'is true', 'is.false': 'is false',
};
function opsFor(kind) {
  const nulls = ['is.null', 'is.not_null'];
  switch (kind) {
    case 'text': return ['eq', 'neq', 'ilike', 'like', 'match', 'imatch', 'in', 'gt', 'lt', ...nulls];
    case 'enum': case 'uuid': return ['eq', 'neq', 'in', ...nulls];
    case 'integer': case 'number': case 'decimal':
    case 'date': case 'datetime': case 'time': return ['eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'in', ...nulls];
    case 'boolean': return ['is.true', 'is.false', ...nulls];
    case 'bytes': return ['eq', 'neq', ...nulls];
    default: return nulls;
  }
}
const needsValue = op => !op.startsWith('is.');

function foreignKeyOf(schema, col) {
  return (schema['x-foreign-keys'] || []).find(fk => fk.columns.length === 1 && fk.columns[0] === col);
}

// A key segment list for a row ('/' joined, each percent-encoded).
const keyPath = (pk, row) => pk.map(k => encodeURIComponent(String(row[k]))).join('/');

// ---------------------------------------------------------------------------------------
// Routing: #/ (home), #/s/{service}?v={state}, #/s/{service}/row/{key...}, #/s/{service}/new
// ---------------------------------------------------------------------------------------

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const [path, query] = raw.split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const params = new URLSearchParams(query || '');
  return { parts, params };
}

function viewHash(service, state) {
  return '#/s/' + encodeURIComponent(service) + '?v=' + encodeURIComponent(JSON.stringify(state));
}

let renderSeq = 0;
async function render() {
  const seq = ++renderSeq;
  const main = $('#main');
  const { parts, params } = parseHash();
  try {
    if (!services) await loadServices();
    if (seq !== renderSeq) return;
    let view;
    if (parts[0] === 's' && parts[1]) {
      const name = parts[1];
      if (!services.has(name)) view = h('div', { class: 'error', role: 'alert', text: `No service '${name}' is listed by GET / (or it does not allow GET).` });
      else if (parts[2] === 'row') view = await rowView(name, parts.slice(3));
      else if (parts[2] === 'new') view = await rowView(name, null);
      else view = await tableView(name, readState(params));
    } else {
      view = homeView();
    }
    if (seq !== renderSeq) return;
    main.replaceChildren(view);
    markCurrent(parts[1]);
  } catch (e) {
    if (seq !== renderSeq) return;
    main.replaceChildren(errorBox(e, h('p', {}, h('button', { type: 'button', onclick: () => { services = null; render(); }, text: 'Try again' }))));
  }
}

function markCurrent(name) {
  for (const a of document.querySelectorAll('#services a')) {
    if (a.dataset.service === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

function renderNav() {
  const nav = $('#services');
  const items = [...services.values()].filter(s => s.methods.includes('GET'));
  nav.replaceChildren(h('h2', { text: 'Services' }),
    items.length
      ? h('ul', {}, items.map(s => h('li', {}, h('a', { href: viewHash(s.name, defaultState()), 'data-service': s.name, text: s.name }))))
      : h('p', { class: 'muted', text: 'No service allows GET.' }));
}

function homeView() {
  const rows = [...services.values()];
  return h('section', {},
    h('h2', { text: 'Services' }),
    h('p', {}, 'The services ', h('a', { href: '/', text: 'GET /' }), ' lists, with the methods each allows. The whole API is described by ',
      h('a', { href: '/openapi.json', text: '/openapi.json' }), '.'),
    h('table', { class: 'grid' },
      h('thead', {}, h('tr', {}, h('th', { text: 'service' }), h('th', { text: 'methods' }), h('th', { text: 'schema' }))),
      h('tbody', {}, rows.map(s => h('tr', {},
        h('td', {}, s.methods.includes('GET') ? h('a', { href: viewHash(s.name, defaultState()), text: s.name }) : s.name),
        h('td', { text: s.methods.join(' ') }),
        h('td', {}, h('a', { href: s.schema || '/_schema/' + s.name, text: 'JSON Schema' })))))));
}

// ---------------------------------------------------------------------------------------
// Table view
// ---------------------------------------------------------------------------------------

const defaultState = () => ({ filters: [], logic: 'and', order: [], columns: null, offset: 0, size: 25, labels: true });

function readState(params) {
  const s = defaultState();
  try { Object.assign(s, JSON.parse(params.get('v') || '{}')); } catch (_) { /* default view */ }
  if (!PAGE_SIZES.includes(s.size)) s.size = 25;
  s.offset = Math.max(0, Number(s.offset) || 0);
  return s;
}

// A value inside an or=(...)/and=(...) group or an in.(...) list, quoted when needed.
function quoteItem(v) {
  return /[,()"\\]|^\s|\s$|^$/.test(v) ? '"' + v.replace(/[\\"]/g, m => '\\' + m) + '"' : v;
}
const inList = v => '(' + v.split(',').map(x => quoteItem(x.trim())).join(',') + ')';

function filterValue(f) {
  if (!needsValue(f.op)) return f.op;
  return f.op + '.' + (f.op === 'in' ? inList(f.value) : f.value);
}

// The query string (without paging) a view state asks for.
function queryOf(name, state, schema, labels) {
  const q = [];
  const cols = columnsOf(schema);
  const pk = schema['x-primary-key'] || [];
  let select = state.columns ? cols.filter(c => state.columns.includes(c.name) || pk.includes(c.name)).map(c => c.name) : ['*'];
  for (const l of labels) select.push(`${l.alias}:${l.service}!${l.column}(${l.label})`);
  if (select.length > 1 || select[0] !== '*') q.push('select=' + encodeURIComponent(select.join(',')));
  const active = state.filters.filter(f => f.column && f.op && (!needsValue(f.op) || f.value !== ''));
  if (state.logic === 'or' && active.length > 1) {
    const items = active.map(f => {
      const op = needsValue(f.op) ? f.op + '.' + (f.op === 'in' ? inList(f.value) : quoteItem(f.value)) : f.op;
      return f.column + '.' + (f.not ? 'not.' : '') + op;
    });
    q.push('or=' + encodeURIComponent('(' + items.join(',') + ')'));
  } else {
    for (const f of active) q.push(encodeURIComponent(f.column) + '=' + encodeURIComponent((f.not ? 'not.' : '') + filterValue(f)));
  }
  if (state.order.length) q.push('order=' + encodeURIComponent(state.order.map(o => o.column + '.' + o.dir).join(',')));
  return q.join('&');
}

// The label embeds: for each single-column foreign key to a listed service, that
// service's first text column that is not its key.
async function labelsFor(schema) {
  const out = [];
  for (const fk of schema['x-foreign-keys'] || []) {
    if (fk.columns.length !== 1 || !allows(fk.references.service, 'GET')) continue;
    let target;
    try { target = await schemaOf(fk.references.service); } catch (_) { continue; }
    const tpk = target['x-primary-key'] || [];
    const label = columnsOf(target).find(c => c.kind === 'text' && !tpk.includes(c.name));
    if (!label) continue;
    out.push({ column: fk.columns[0], service: fk.references.service, label: label.name, alias: fk.columns[0] + '_label' });
  }
  return out;
}

function parseContentRange(v) {
  const m = /^(?:(\d+)-(\d+)|\*)\/(\d+|\*)$/.exec(v || '');
  if (!m) return null;
  return { first: m[1] === undefined ? null : Number(m[1]), last: m[2] === undefined ? null : Number(m[2]), total: m[3] === '*' ? null : Number(m[3]) };
}

async function tableView(name, state) {
  const schema = await schemaOf(name);
  const cols = columnsOf(schema);
  const pk = schema['x-primary-key'] || [];
  const labels = state.labels ? await labelsFor(schema) : [];
  const go = next => { location.hash = viewHash(name, next); };
  const base = '/' + encodeURIComponent(name);
  const pageHeaders = () => ({ Range: `${state.offset}-${state.offset + state.size - 1}`, Prefer: 'count=exact' });

  let query = queryOf(name, state, schema, labels);
  let url = base + (query ? '?' + query : '');
  let result;
  let error = null;
  try {
    result = await api('GET', url, { headers: pageHeaders() });
  } catch (e) {
    if (e.status === 416 && state.offset > 0) {
      // Past the end (rows were deleted meanwhile): show the last page.
      const cr = parseContentRange(e.headers.get('content-range'));
      go({ ...state, offset: cr && cr.total ? Math.max(0, Math.floor((cr.total - 1) / state.size) * state.size) : 0 });
      return h('p', { text: 'Going to the last page…' });
    }
    if (labels.length && (e.status === 400 || e.status === 300)) {
      // The embeds could not be resolved: the same view without labels.
      query = queryOf(name, state, schema, []);
      url = base + (query ? '?' + query : '');
      labels.length = 0;
      try { result = await api('GET', url, { headers: pageHeaders() }); } catch (e2) { error = e2; }
    } else {
      error = e;
    }
  }
  const rows = result && Array.isArray(result.data) ? result.data : [];
  const range = result ? parseContentRange(result.headers.get('content-range')) : null;
  const total = range ? range.total : null;
  const shown = state.columns ? cols.filter(c => state.columns.includes(c.name) || pk.includes(c.name)) : cols;

  // Toolbar: title, actions, downloads.
  const title = h('div', { class: 'view-head' },
    h('h2', { id: 'view-title' }, name),
    h('div', { class: 'actions' },
      allows(name, 'POST') ? h('a', { class: 'button', href: '#/s/' + encodeURIComponent(name) + '/new', text: 'New row' }) : null,
      h('button', { type: 'button', onclick: () => download(name, url, pageHeaders(), 'csv'), text: 'Download CSV' }),
      h('button', { type: 'button', onclick: () => download(name, url, pageHeaders(), 'json'), text: 'Download JSON' })));

  const requestBox = result ? curlBox(result.curl) : null;

  // Filters.
  const filterForm = filterBuilder(cols, state, next => go({ ...next, offset: 0 }));

  // Column chooser.
  const chosen = new Set(state.columns || cols.map(c => c.name));
  const chooser = h('details', { class: 'panel', open: !!state.columns },
    h('summary', { text: 'Columns' + (state.columns ? ` (${shown.length} of ${cols.length})` : '') }),
    h('form', {
      class: 'columns', onsubmit: ev => {
        ev.preventDefault();
        const picked = [...ev.target.querySelectorAll('input:checked')].map(i => i.value);
        go({ ...state, columns: picked.length === cols.length ? null : picked });
      },
    },
    h('fieldset', {}, h('legend', { text: 'Columns to show (key columns are always fetched)' }),
      cols.map(c => h('label', { class: 'check' }, h('input', { type: 'checkbox', value: c.name, checked: chosen.has(c.name) }), ' ' + c.name))),
    h('label', { class: 'check' }, h('input', {
      type: 'checkbox', checked: state.labels,
      onchange: ev => go({ ...state, labels: ev.target.checked }),
    }), ' show a label for references (select=*,alias:service(column))'),
    h('button', { type: 'submit', text: 'Show these columns' })));

  // The grid.
  const sortState = c => state.order.find(o => o.column === c);
  const CYCLE = ['asc', 'desc', 'asc.nullsfirst', 'desc.nullslast'];
  const sortBy = (c, add) => {
    const cur = sortState(c);
    const nextDir = cur ? CYCLE[CYCLE.indexOf(cur.dir) + 1] : 'asc';
    let order = add ? state.order.filter(o => o.column !== c) : [];
    if (nextDir) {
      if (add && cur) order = state.order.map(o => o.column === c ? { column: c, dir: nextDir } : o);
      else order.push({ column: c, dir: nextDir });
    }
    go({ ...state, order, offset: 0 });
  };
  const arrow = dir => ({ asc: ' ▲', desc: ' ▼', 'asc.nullsfirst': ' ▲ nulls first', 'desc.nullslast': ' ▼ nulls last' }[dir] || '');
  const fkLink = (c, row) => {
    const fk = foreignKeyOf(schema, c.name);
    if (!fk || row[c.name] === null || !allows(fk.references.service, 'GET')) return null;
    const target = fk.references.service;
    const v = String(row[c.name]);
    return '#/s/' + encodeURIComponent(target) + '/row/' + encodeURIComponent(v) + '?by=' + encodeURIComponent(fk.references.columns[0]);
  };
  const labelOf = c => labels.find(l => l.column === c.name);

  const thead = h('thead', {}, h('tr', {},
    shown.map(c => {
      const s = sortState(c.name);
      return h('th', { scope: 'col', 'aria-sort': s ? (s.dir.startsWith('asc') ? 'ascending' : 'descending') : 'none' },
        h('button', {
          type: 'button', class: 'sort', 'data-column': c.name,
          title: 'Sort by ' + c.name + ' (shift-click adds a sort key)',
          onclick: ev => sortBy(c.name, ev.shiftKey),
        }, c.name, h('span', { class: 'arrow', text: s ? arrow(s.dir) : '' })));
    }),
    pk.length ? h('th', { scope: 'col' }, h('span', { class: 'sr-only', text: 'actions' })) : null));
  const tbody = h('tbody', {}, rows.map(row => h('tr', {},
    shown.map(c => {
      const link = fkLink(c, row);
      const l = labelOf(c);
      const lv = l && row[l.alias] && row[l.alias][l.label];
      return h('td', { class: 'k-' + c.kind, 'data-column': c.name },
        link ? h('a', { href: link, text: cellText(c, row[c.name]) }) : cellNode(c, row[c.name]),
        lv !== undefined && lv !== null ? h('span', { class: 'label', text: ' ' + String(lv) }) : null);
    }),
    pk.length ? h('td', {}, h('a', {
      class: 'button small', href: '#/s/' + encodeURIComponent(name) + '/row/' + keyPath(pk, row),
      text: allows(name, 'PATCH') ? 'Edit' : 'View', 'aria-label': (allows(name, 'PATCH') ? 'Edit' : 'View') + ' row ' + pk.map(k => row[k]).join('/'),
    })) : null)));

  const first = range && range.first !== null ? range.first + 1 : 0;
  const last = range && range.last !== null ? range.last + 1 : 0;
  const summary = total === null ? (rows.length ? `rows ${first}-${last}` : 'no rows') : (rows.length ? `rows ${first}-${last} of ${total}` : `no rows (of ${total})`);
  const lastOffset = total ? Math.floor((total - 1) / state.size) * state.size : 0;
  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages' },
    h('button', { type: 'button', disabled: state.offset === 0, onclick: () => go({ ...state, offset: 0 }), text: '« First' }),
    h('button', { type: 'button', id: 'prev', disabled: state.offset === 0, onclick: () => go({ ...state, offset: Math.max(0, state.offset - state.size) }), text: '‹ Previous' }),
    h('span', { id: 'range', class: 'range', 'aria-live': 'polite', text: summary }),
    h('button', { type: 'button', id: 'next', disabled: total === null ? rows.length < state.size : state.offset + state.size >= total, onclick: () => go({ ...state, offset: state.offset + state.size }), text: 'Next ›' }),
    h('button', { type: 'button', disabled: total === null || state.offset >= lastOffset, onclick: () => go({ ...state, offset: lastOffset }), text: 'Last »' }),
    h('label', {}, 'Rows per page ', h('select', {
      onchange: ev => go({ ...state, size: Number(ev.target.value), offset: 0 }),
    }, PAGE_SIZES.map(n => h('option', { value: n, selected: n === state.size, text: n })))));

  return h('section', { 'aria-labelledby': 'view-title', class: 'table-view' },
    title, filterForm, chooser,
    error ? errorBox(error) : null,
    pager,
    h('div', { class: 'scroll', tabindex: '0', role: 'region', 'aria-label': name + ' rows' },
      h('table', { class: 'grid', id: 'rows' }, thead, tbody)),
    requestBox,
    h('p', { class: 'muted small', text: 'Keys: [ and ] for previous and next page, / for the first filter value.' }));
}

function cellText(c, v) {
  if (v === null || v === undefined) return 'NULL';
  if (c.kind === 'json') return toJSON(v);
  if (c.kind === 'bytes') return `base64, ${Math.floor(String(v).length * 3 / 4)} bytes`;
  return String(v);
}

function cellNode(c, v) {
  if (v === null || v === undefined) return h('span', { class: 'null', text: 'NULL' });
  const t = cellText(c, v);
  return t.length > 80 ? h('span', { title: t, text: t.slice(0, 80) + '…' }) : t;
}

function curlBox(cmd) {
  const btn = h('button', { type: 'button', class: 'small', text: 'Copy curl', onclick: () => copyText(cmd, btn) });
  return h('div', { class: 'curl-box' }, h('div', { class: 'req-head' }, h('strong', { text: 'The request behind this view' }), btn), h('pre', { class: 'curl', text: cmd }));
}

function filterBuilder(cols, state, apply) {
  const filters = state.filters.length ? state.filters.map(f => ({ ...f })) : [];
  const form = h('form', { class: 'filters', 'aria-label': 'Filters' });
  const list = h('div', { class: 'filter-rows' });
  let n = 0;
  const row = f => {
    const id = 'f' + (n++);
    const colSel = h('select', { id: id + '-col', 'aria-label': 'column' }, cols.map(c => h('option', { value: c.name, selected: c.name === f.column, text: c.name })));
    const opSel = h('select', { id: id + '-op', 'aria-label': 'operator' });
    const notBox = h('input', { type: 'checkbox', id: id + '-not', checked: !!f.not });
    const value = h('input', { id: id + '-value', class: 'filter-value', 'aria-label': 'value', value: f.value || '', placeholder: 'value' });
    const fillOps = () => {
      const c = cols.find(x => x.name === colSel.value) || cols[0];
      const ops = opsFor(c.kind);
      const keep = ops.includes(opSel.value) ? opSel.value : (ops.includes(f.op) ? f.op : ops[0]);
      opSel.replaceChildren(...ops.map(o => h('option', { value: o, selected: o === keep, text: OPS[o] || o })));
      value.hidden = !needsValue(opSel.value);
      value.placeholder = opSel.value === 'in' ? 'a,b,c' : (opSel.value.includes('like') ? '*pattern*' : 'value');
    };
    colSel.addEventListener('change', fillOps);
    opSel.addEventListener('change', () => { value.hidden = !needsValue(opSel.value); fillOps(); });
    fillOps();
    const el = h('div', { class: 'filter-row' }, colSel,
      h('label', { class: 'check', title: 'negate (not.)' }, notBox, ' not'), opSel, value,
      h('button', { type: 'button', class: 'small', 'aria-label': 'remove this filter', text: '✕', onclick: () => el.remove() }));
    el.read = () => ({ column: colSel.value, op: opSel.value, not: notBox.checked, value: value.value });
    return el;
  };
  for (const f of filters) list.append(row(f));
  const logic = h('fieldset', { class: 'logic' }, h('legend', { text: 'Rows must match' }),
    h('label', { class: 'check' }, h('input', { type: 'radio', name: 'logic', value: 'and', checked: state.logic !== 'or' }), ' all filters (and)'),
    h('label', { class: 'check' }, h('input', { type: 'radio', name: 'logic', value: 'or', checked: state.logic === 'or' }), ' any filter (or=(...))'));
  form.append(
    h('h3', { text: 'Filters' }), list,
    h('div', { class: 'filter-actions' },
      h('button', { type: 'button', id: 'add-filter', text: '+ Add filter', onclick: () => { const r = row({ column: cols[0] && cols[0].name }); list.append(r); r.querySelector('select').focus(); } }),
      logic,
      h('button', { type: 'submit', id: 'apply-filters', text: 'Apply' }),
      state.filters.length ? h('button', { type: 'button', text: 'Clear', onclick: () => apply({ ...state, filters: [] }) }) : null));
  form.addEventListener('submit', ev => {
    ev.preventDefault();
    const next = [...list.children].map(r => r.read());
    apply({ ...state, filters: next, logic: form.querySelector('input[name=logic]:checked').value });
  });
  return form;
}

async function download(name, url, headers, format) {
  const accept = format === 'csv' ? 'text/csv' : 'application/json';
  try {
    const r = await api('GET', url, { headers: { ...headers, Accept: accept } });
    const blob = new Blob([r.text], { type: accept });
    const a = h('a', { href: URL.createObjectURL(blob), download: `${name}.${format}` });
    document.body.append(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
  } catch (e) {
    $('#main').prepend(errorBox(e));
  }
}

// ---------------------------------------------------------------------------------------
// Row view: create, edit, delete
// ---------------------------------------------------------------------------------------

async function rowView(name, key) {
  const schema = await schemaOf(name);
  const cols = columnsOf(schema);
  const pk = schema['x-primary-key'] || [];
  const { params } = parseHash();
  const by = params.get('by');
  const creating = key === null;
  const base = '/' + encodeURIComponent(name);
  let row = {};
  let etag = null;
  let itemUrl = null;
  if (!creating) {
    if (by && !(pk.length === 1 && pk[0] === by)) {
      // A reference to a non-key column: find the row, then use its key.
      const r = await api('GET', `${base}?${encodeURIComponent(by)}=eq.${encodeURIComponent(key[0])}&limit=1`);
      if (!r.data || !r.data.length) return h('p', { class: 'error', text: 'No such row.' });
      key = pk.map(k => String(r.data[0][k]));
    }
    itemUrl = base + '/' + key.map(encodeURIComponent).join('/');
    const r = await api('GET', itemUrl);
    row = r.data;
    etag = r.headers.get('etag');
  }
  const editable = creating ? allows(name, 'POST') : allows(name, 'PATCH');
  const fields = cols.map(c => field(c, creating ? undefined : row[c.name], creating, editable));
  const status = h('div', { class: 'form-status', role: 'status', 'aria-live': 'polite' });
  const back = viewHash(name, defaultState());
  const form = h('form', { class: 'row-form', novalidate: true, 'aria-labelledby': 'view-title' },
    fields.map(f => f.el),
    editable ? h('div', { class: 'form-actions' },
      h('button', { type: 'submit', id: 'save', class: 'primary', text: creating ? 'Create' : 'Save' }),
      h('a', { href: back, class: 'button', text: 'Cancel' })) : null);
  const danger = h('div', { class: 'danger' });
  if (!creating && allows(name, 'DELETE')) {
    const confirmBox = h('div', { class: 'confirm', hidden: true, role: 'alertdialog', 'aria-labelledby': 'confirm-text' },
      h('p', { id: 'confirm-text', text: `Delete this row of ${name}? This cannot be undone.` }),
      h('button', { type: 'button', id: 'confirm-delete', class: 'danger-button', text: 'Yes, delete it', onclick: () => doDelete() }),
      h('button', { type: 'button', text: 'Keep it', onclick: () => { confirmBox.hidden = true; del.focus(); } }));
    const del = h('button', { type: 'button', id: 'delete', class: 'danger-button', text: 'Delete row…', onclick: () => { confirmBox.hidden = false; $('#confirm-delete').focus(); } });
    danger.append(del, confirmBox);
  }

  const clearErrors = () => { for (const f of fields) f.setError(null); status.replaceChildren(); };
  const showError = e => {
    const details = e.body && Array.isArray(e.body.details) ? e.body.details : [];
    const unplaced = [];
    for (const d of details) {
      const path = (d.path || '').split('/').slice(1).map(p => p.replace(/~1/g, '/').replace(/~0/g, '~'));
      const f = path.length === 1 && fields.find(x => x.column.name === path[0]);
      if (f) f.setError(d.message); else unplaced.push(d);
    }
    const firstBad = fields.find(f => f.hasError());
    status.replaceChildren(h('div', { class: 'error', role: 'alert' }, describeError(e),
      unplaced.length ? h('ul', {}, unplaced.map(d => h('li', { text: (d.path ? d.path + ': ' : '') + d.message }))) : null));
    if (firstBad) firstBad.focus();
  };

  async function save() {
    clearErrors();
    const parts = [];
    for (const f of fields) {
      const t = f.bodyText();
      if (t === undefined) continue;
      if (t instanceof Error) { f.setError(t.message); continue; }
      if (!creating && t === f.originalText) continue;
      parts.push(JSON.stringify(f.column.name) + ':' + t);
    }
    const bad = fields.find(f => f.hasError());
    if (bad) { status.replaceChildren(h('div', { class: 'error', role: 'alert', text: 'Fix the marked fields first.' })); bad.focus(); return; }
    if (!creating && !parts.length) { status.replaceChildren(h('p', { text: 'Nothing changed.' })); return; }
    const body = '{' + parts.join(',') + '}';
    try {
      if (creating) {
        const r = await api('POST', base, { body, headers: { Prefer: 'return=representation' } });
        const created = Array.isArray(r.data) ? r.data[0] : r.data;
        if (created && pk.length) {
          location.hash = '#/s/' + encodeURIComponent(name) + '/row/' + keyPath(pk, created) + '?created=1';
        } else {
          location.hash = back;
        }
        return;
      }
      const headers = { Prefer: 'return=representation' };
      if (etag) headers['If-Match'] = etag;
      const r = await api('PATCH', itemUrl, { body, headers });
      const updated = Array.isArray(r.data) ? r.data[0] : r.data;
      etag = r.headers.get('etag') || etag;
      if (updated) for (const f of fields) f.reset(updated[f.column.name]);
      status.replaceChildren(h('p', { class: 'ok', text: 'Saved.' }));
    } catch (e) {
      if (e.status === 412) {
        // Someone changed the row: show the current values beside the edits, take its new
        // ETag, and let the user save again on purpose.
        try {
          const cur = await api('GET', itemUrl);
          etag = cur.headers.get('etag');
          for (const f of fields) f.showCurrent(cur.data[f.column.name]);
          status.replaceChildren(h('div', { class: 'error conflict', role: 'alert' },
            h('strong', { text: 'Someone changed this row since you opened it (412 precondition_failed). ' }),
            'The current values are shown under each field that differs. Your edits are kept: save again to write the fields you changed over them (with the row\'s new ETag), or reload to start over.'));
        } catch (e2) {
          if (e2.status === 404) status.replaceChildren(h('div', { class: 'error', role: 'alert', text: 'This row was deleted meanwhile.' }));
          else showError(e2);
        }
        return;
      }
      showError(e);
    }
  }

  async function doDelete() {
    const headers = etag ? { 'If-Match': etag } : {};
    try {
      await api('DELETE', itemUrl, { headers });
      location.hash = back;
    } catch (e) {
      if (e.status === 412) {
        status.replaceChildren(h('div', { class: 'error', role: 'alert', text: 'Someone changed this row meanwhile (412): not deleted. Reload to see it.' }));
      } else showError(e);
    }
  }

  form.addEventListener('submit', ev => { ev.preventDefault(); save(); });
  const created = params.get('created') ? h('p', { class: 'ok', role: 'status', text: 'Created.' }) : null;
  return h('section', { class: 'row-view' },
    h('p', { class: 'crumbs' }, h('a', { href: back, text: '← ' + name })),
    h('h2', { id: 'view-title', text: creating ? `New row in ${name}` : `${name} ${key.join('/')}` }),
    created,
    !editable ? h('p', { class: 'muted', text: `This service does not allow ${creating ? 'POST' : 'PATCH'}: read only.` }) : null,
    creating ? h('p', { class: 'muted', text: 'Leave a field empty to use its default.' }) : null,
    status, form, danger,
    !creating && etag ? h('p', { class: 'muted small' }, 'ETag ', h('code', { id: 'etag', text: etag }), ' — saving sends it as If-Match.') : null,
    h('div', { class: 'curl-box' }, h('p', { class: 'muted small', text: 'The requests this form made are listed below.' })));
}

// One form field for a column: its input(s), how to read it as JSON text, errors.
function field(c, value, creating, editable) {
  const id = 'field-' + c.name.replace(/[^A-Za-z0-9_-]/g, '_');
  const errId = id + '-error';
  const readOnly = c.readOnly || !editable;
  const err = h('p', { class: 'field-error', id: errId, hidden: true });
  const now = h('p', { class: 'field-current', hidden: true });
  const hint = [c.prop.description, c.kind === 'decimal' ? 'exact decimal' : null, c.prop.maxLength ? 'at most ' + c.prop.maxLength + ' characters' : null,
    c.readOnly ? 'read-only' : null, c.required ? 'required' : null].filter(Boolean).join(', ');
  let input;
  let file = null;
  let fileData = null;
  const text = v => (v === null || v === undefined) ? '' : (c.kind === 'json' ? pretty(v) : String(v));
  const common = { id, name: c.name, 'aria-describedby': errId + ' ' + id + '-hint', disabled: readOnly };
  switch (c.kind) {
    case 'boolean':
      input = h('input', { ...common, type: 'checkbox', checked: value === true });
      break;
    case 'enum':
      input = h('select', common, h('option', { value: '', text: '—' }),
        c.prop.enum.filter(v => v !== null).map(v => h('option', { value: v, selected: v === value, text: v })));
      break;
    case 'json':
      input = h('textarea', { ...common, rows: 4, spellcheck: false });
      input.value = text(value);
      input.addEventListener('input', () => {
        try { if (input.value.trim()) parseJSON(input.value.trim()); setError(null); } catch (e) { setError('not valid JSON: ' + e.message); }
      });
      break;
    case 'bytes':
      input = h('input', { ...common, type: 'file' });
      file = h('span', { class: 'muted small' },
        value ? h('a', { href: 'data:application/octet-stream;base64,' + value, download: c.name + '.bin', text: `download current (${Math.floor(String(value).length * 3 / 4)} bytes)` }) : null);
      input.addEventListener('change', () => {
        const f = input.files[0];
        if (!f) { fileData = null; return; }
        const reader = new FileReader();
        reader.onload = () => { fileData = String(reader.result).replace(/^data:[^,]*,/, ''); };
        reader.readAsDataURL(f);
      });
      break;
    case 'integer':
      input = h('input', { ...common, inputmode: 'numeric', autocomplete: 'off', value: text(value) });
      break;
    case 'number': case 'decimal':
      input = h('input', { ...common, inputmode: 'decimal', autocomplete: 'off', value: text(value) });
      break;
    case 'date':
      input = h('input', { ...common, type: 'date', value: text(value) });
      break;
    case 'time':
      input = h('input', { ...common, type: 'time', step: 1, value: text(value) });
      break;
    case 'datetime': {
      // datetime-local for timestamps without a zone; a text box when there is one.
      const v = text(value);
      const local = !/tz|zone/i.test(c.prop.description || '') && (v === '' || /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?$/.test(v));
      input = h('input', { ...common, type: local ? 'datetime-local' : 'text', step: local ? 1 : undefined, value: v, placeholder: 'YYYY-MM-DDTHH:MM:SS' });
      break;
    }
    default:
      input = h('input', { ...common, type: 'text', value: text(value), maxlength: c.prop.maxLength, autocomplete: 'off' });
  }
  let nullBox = null;
  if (c.nullable && !readOnly && c.kind !== 'json') {
    nullBox = h('input', { type: 'checkbox', id: id + '-null', checked: !creating && value === null });
    nullBox.addEventListener('change', () => { input.disabled = nullBox.checked; });
    input.disabled = nullBox.checked;
  }
  const generatedNote = c.readOnly && creating ? h('span', { class: 'muted small', text: ' set by the database' }) : null;
  const el = h('div', { class: 'field k-' + c.kind + (readOnly ? ' readonly' : '') },
    h('label', { for: id }, c.name, c.required ? h('span', { class: 'req', 'aria-hidden': 'true', text: ' *' }) : null),
    h('div', { class: 'control' }, input, file,
      nullBox ? h('label', { class: 'check null-check' }, nullBox, ' null') : null, generatedNote),
    h('p', { class: 'hint muted small', id: id + '-hint', text: hint }),
    err, now);

  function setError(msg) {
    err.hidden = !msg; err.textContent = msg || '';
    if (msg) input.setAttribute('aria-invalid', 'true'); else input.removeAttribute('aria-invalid');
    el.classList.toggle('invalid', !!msg);
  }

  // The JSON text this field contributes to the body; undefined to leave the key out.
  function bodyText() {
    if (c.readOnly || readOnly) return undefined;
    if (nullBox && nullBox.checked) return 'null';
    switch (c.kind) {
      case 'boolean': return input.checked ? 'true' : 'false';
      case 'json': {
        const t = input.value.trim();
        if (!t) return creating ? undefined : 'null';
        try { parseJSON(t); } catch (e) { return new Error('not valid JSON: ' + e.message); }
        return t;
      }
      case 'bytes': return fileData === null ? undefined : JSON.stringify(fileData);
      case 'integer': case 'number': case 'decimal': {
        const t = input.value.trim();
        if (!t) return creating ? undefined : (c.nullable ? 'null' : JSON.stringify(t));
        // Sent exactly as typed when it is a JSON number; anything else as a string, so the
        // API reports it against this field.
        return /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/.test(t) ? t : JSON.stringify(t);
      }
      case 'enum': {
        if (!input.value) return creating ? undefined : 'null';
        return JSON.stringify(input.value);
      }
      case 'datetime': {
        let t = input.value;
        if (!t) return creating ? undefined : 'null';
        if (input.type === 'datetime-local' && /T\d\d:\d\d$/.test(t)) t += ':00';
        return JSON.stringify(t);
      }
      case 'date': case 'time': {
        const t = input.value;
        if (!t) return creating ? undefined : 'null';
        return JSON.stringify(t);
      }
      default:
        if (creating && input.value === '') return undefined;
        return JSON.stringify(input.value);
    }
  }

  const api_ = {
    el, column: c,
    setError,
    hasError: () => !err.hidden,
    focus: () => input.focus(),
    originalText: undefined,
    bodyText,
    reset(v) {
      value = v;
      now.hidden = true;
      if (c.kind === 'boolean') input.checked = v === true;
      else if (c.kind !== 'bytes') input.value = text(v);
      if (nullBox) { nullBox.checked = v === null; input.disabled = readOnly || v === null; }
      api_.originalText = creating ? undefined : bodyText();
    },
    showCurrent(v) {
      const same = toJSON(v === undefined ? null : v) === toJSON(value === undefined ? null : value);
      now.hidden = same;
      now.textContent = same ? '' : 'now in the database: ' + (v === null ? 'NULL' : text(v));
      value = v;
    },
  };
  if (!creating) api_.originalText = bodyText();
  return api_;
}

// ---------------------------------------------------------------------------------------
// Start
// ---------------------------------------------------------------------------------------

function setupAuth() {
  const form = $('#auth');
  const input = $('#token');
  input.value = token();
  form.addEventListener('submit', ev => {
    ev.preventDefault();
    if (input.value) sessionStorage.setItem(TOKEN_KEY, input.value);
    else sessionStorage.removeItem(TOKEN_KEY);
    services = null; schemas.clear(); render();
  });
  $('#forget').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY); input.value = '';
    services = null; schemas.clear(); render();
  });
}

function setupKeys() {
  document.addEventListener('keydown', ev => {
    const t = ev.target;
    if (ev.ctrlKey || ev.metaKey || ev.altKey || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName)) return;
    if (ev.key === ']') { const b = $('#next'); if (b && !b.disabled) { b.click(); ev.preventDefault(); } }
    if (ev.key === '[') { const b = $('#prev'); if (b && !b.disabled) { b.click(); ev.preventDefault(); } }
    if (ev.key === '/') {
      const v = $('.filter-value');
      if (v) v.focus(); else { const a = $('#add-filter'); if (a) a.click(); }
      ev.preventDefault();
    }
  });
}

window.addEventListener('hashchange', render);
window.addEventListener('DOMContentLoaded', () => {
  setupAuth();
  setupKeys();
  render();
});
