// The Aperture dashboard (SPEC.md §12). Plain JavaScript, no dependencies, nothing fetched from
// outside this origin. Every value from the server is put into the page as text (textContent),
// never as HTML: captured prompts and responses cannot inject markup or script.
'use strict';

// ---------------------------------------------------------------------------------------------
// Small helpers

/** Creates an element; string and number children become text nodes. */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const SVG = 'http://www.w3.org/2000/svg';
function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

/** An error from the API, with its HTTP status. */
class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** GET (or other method) on the management API; the parsed JSON answer. */
async function api(path, opts) {
  const init = Object.assign({ credentials: 'same-origin', headers: {} }, opts || {});
  init.headers = Object.assign({ Accept: 'application/json' }, init.headers);
  const res = await fetch(path, init);
  const text = await res.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch (_) {
    body = null;
  }
  if (!res.ok) {
    const msg = body && typeof body.error === 'string' ? body.error
      : body && body.error && body.error.message ? body.error.message
      : `HTTP ${res.status}`;
    const err = new ApiError(res.status, msg);
    err.body = body;
    throw err;
  }
  return body;
}

function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') u.set(k, String(v));
  }
  const t = u.toString();
  return t ? `?${t}` : '';
}

const fmtInt = (n) => (n === null || n === undefined ? '—' : Number(n).toLocaleString('en-US'));

function fmtCost(nano) {
  if (nano === null || nano === undefined) return '—';
  const usd = Number(nano) / 1e9;
  if (usd === 0) return '$0.00';
  if (usd < 0.01) return `$${usd.toFixed(6)}`;
  return `$${usd.toFixed(usd < 100 ? 4 : 2)}`;
}

function fmtTime(ms) {
  if (ms === null || ms === undefined) return '—';
  return new Date(Number(ms)).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

function fmtDuration(ms) {
  if (ms === null || ms === undefined) return '—';
  ms = Number(ms);
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  const m = Math.floor(ms / 60000);
  return `${m} min ${Math.round((ms % 60000) / 1000)} s`;
}

/** Moves the decimal point of a decimal string `places` to the right, exactly. */
function shiftDecimal(str, places) {
  const m = /^(\d*)(?:\.(\d*))?$/.exec(String(str));
  if (!m) return String(str);
  let int = m[1] || '0';
  let frac = m[2] || '';
  frac = frac.padEnd(places, '0');
  int = (int + frac.slice(0, places)).replace(/^0+(?=\d)/, '');
  frac = frac.slice(places).replace(/0+$/, '');
  return frac ? `${int}.${frac}` : int;
}

function tokens(u) {
  return (u.input || 0) + (u.output || 0) + (u.cache_read || 0) + (u.cache_write_5m || 0) + (u.cache_write_1h || 0);
}

function table(headers, rows, opts) {
  const o = opts || {};
  return h('table', { class: o.class || 'grid', id: o.id },
    h('thead', {}, h('tr', {}, headers.map((t) => h('th', { text: t })))),
    h('tbody', {}, rows.length ? rows : [h('tr', {}, h('td', { colspan: headers.length, class: 'muted', text: o.empty || 'Nothing yet.' }))]));
}

function card(label, value, id) {
  return h('div', { class: 'card', id }, h('div', { class: 'card-value', text: value }), h('div', { class: 'card-label', text: label }));
}

function alertBox(err) {
  return h('div', { class: 'error', role: 'alert', text: err instanceof Error ? err.message : String(err) });
}

/** A horizontal bar inside a table cell, `value / max` wide. */
function bar(value, max) {
  const pct = max > 0 ? Math.max(1, Math.round((value / max) * 100)) : 0;
  const fill = h('div', { class: 'bar-fill' });
  // Through the CSSOM: the policy forbids inline style attributes.
  fill.style.width = `${pct}%`;
  return h('div', { class: 'bar' }, fill);
}

/** Tokens (input + output) per day as an SVG bar chart. */
function dayChart(rows) {
  if (!rows.length) return h('p', { class: 'muted', text: 'No usage in this range.' });
  const w = 720;
  const hgt = 180;
  const pad = 28;
  const max = Math.max(...rows.map((r) => r.input_tokens + r.output_tokens), 1);
  const bw = Math.min(48, Math.max(2, Math.floor((w - pad) / rows.length) - 2));
  const svg = s('svg', { viewBox: `0 0 ${w} ${hgt + 20}`, preserveAspectRatio: 'xMinYMid meet', class: 'chart', role: 'img', 'aria-label': 'Tokens per day' });
  rows.forEach((r, i) => {
    const x = pad + i * (bw + 2);
    const inH = Math.round((r.input_tokens / max) * hgt);
    const outH = Math.round((r.output_tokens / max) * hgt);
    const g = s('g', {});
    g.append(s('title', {}, `${r.key}: ${fmtInt(r.input_tokens)} input, ${fmtInt(r.output_tokens)} output tokens, ${fmtCost(r.cost_nanodollars)}`));
    g.append(s('rect', { x, y: hgt - inH, width: bw, height: inH, class: 'in' }));
    g.append(s('rect', { x, y: hgt - inH - outH, width: bw, height: outH, class: 'out' }));
    svg.append(g);
  });
  svg.append(s('text', { x: pad, y: hgt + 16, class: 'axis' }, rows[0].key));
  if (rows.length > 1) svg.append(s('text', { x: w, y: hgt + 16, class: 'axis', 'text-anchor': 'end' }, rows[rows.length - 1].key));
  svg.append(s('text', { x: 0, y: 12, class: 'axis' }, fmtInt(max)));
  return h('figure', { class: 'chart-box' }, svg,
    h('figcaption', {}, h('span', { class: 'key in' }), ' input ', h('span', { class: 'key out' }), ' output tokens per day (UTC)'));
}

function pager(data, offset, go) {
  const limit = data.limit || 50;
  return h('div', { class: 'pager' },
    h('button', { type: 'button', disabled: offset <= 0, onclick: () => go(Math.max(0, offset - limit)), text: '← Newer' }),
    h('span', { class: 'muted', text: ` rows ${offset + 1}–${offset + Math.max(0, (data.sessions || data.requests || []).length)} ` }),
    h('button', { type: 'button', disabled: !data.has_more, onclick: () => go(offset + limit), text: 'Older →' }));
}

const params = () => new URLSearchParams(location.search);

/** Replaces the query string with `next` (empty values dropped) and renders again. */
function navigate(next) {
  history.pushState(null, '', location.pathname + qs(next));
  route();
}

// ---------------------------------------------------------------------------------------------
// Pages

let ME = null;
/** How requests refused before routing (no model) are labelled. */
const NO_MODEL = '(no model)';

async function pageDashboard(main, login) {
  const own = !login || login === ME.login;
  const who = own ? ME.login : login;
  main.append(h('h1', { text: own ? 'My dashboard' : `Dashboard of ${who}` }));
  const [usage, recent] = await Promise.all([
    api(`/api/usage${qs({ user: who })}`),
    api(`/api/requests${qs({ user: who, limit: 15 })}`),
  ]);
  const t = usage.totals;
  main.append(h('div', { class: 'cards' },
    card('requests', fmtInt(t.requests), 'total-requests'),
    card('input tokens', fmtInt(t.input_tokens)),
    card('output tokens', fmtInt(t.output_tokens)),
    card('cache read tokens', fmtInt(t.cache_read_tokens)),
    card('cost', fmtCost(t.cost_nanodollars), 'total-cost')));
  main.append(h('h2', { text: 'Tokens by model' }));
  const max = Math.max(...usage.by_model.map((r) => r.input_tokens + r.output_tokens), 0);
  main.append(table(['model', 'requests', 'input', 'output', 'cost', ''],
    usage.by_model.map((r) => h('tr', {},
      h('td', { text: r.key || NO_MODEL }), h('td', { class: 'num', text: fmtInt(r.requests) }),
      h('td', { class: 'num', text: fmtInt(r.input_tokens) }), h('td', { class: 'num', text: fmtInt(r.output_tokens) }),
      h('td', { class: 'num', text: fmtCost(r.cost_nanodollars) }), h('td', { class: 'bar-cell' }, bar(r.input_tokens + r.output_tokens, max)))),
    { id: 'by-model' }));
  main.append(h('h2', { text: 'Tokens per day' }), dayChart(usage.by_day));
  main.append(h('h2', { text: 'Recent activity' }));
  main.append(requestsTable(recent.requests, { showUser: false }));
}

function requestsTable(rows, opts) {
  const o = opts || {};
  const headers = ['time (UTC)'].concat(o.showUser ? ['user'] : [], ['model', 'status', 'duration', 'tokens in / out', 'cost', '']);
  return table(headers, rows.map((r) => h('tr', {},
    h('td', { text: fmtTime(r.time_ms) }),
    o.showUser ? h('td', { text: r.login }) : null,
    h('td', { text: r.model || r.path }),
    h('td', { class: r.status >= 400 ? 'bad' : 'ok', text: r.status }),
    h('td', { class: 'num', text: fmtDuration(r.duration_ms) }),
    h('td', { class: 'num', text: `${fmtInt(r.usage.input)} / ${fmtInt(r.usage.output)}` }),
    h('td', { class: 'num', text: fmtCost(r.cost_nanodollars) }),
    h('td', {}, h('a', { href: `/ui/logs/requests/${encodeURIComponent(r.id)}`, class: 'request-link', text: 'details' })))),
  { id: 'requests', empty: 'No requests match.' });
}

/** The filter bar shared by logs and usage: dates, model, user (admins), status, header. */
function filterForm(fields, values, onApply) {
  const inputs = {};
  const label = (name, text, input) => {
    inputs[name] = input;
    return h('label', {}, h('span', { text }), input);
  };
  const parts = [];
  if (fields.includes('from')) parts.push(label('from', 'from', h('input', { type: 'date', name: 'from', value: values.from || '' })));
  if (fields.includes('to')) parts.push(label('to', 'to', h('input', { type: 'date', name: 'to', value: values.to || '' })));
  if (fields.includes('model')) parts.push(label('model', 'model', h('input', { type: 'text', name: 'model', value: values.model || '', placeholder: 'any' })));
  if (fields.includes('user') && ME.role === 'admin') parts.push(label('user', 'user', h('input', { type: 'text', name: 'user', value: values.user || '', placeholder: 'everyone' })));
  if (fields.includes('status')) parts.push(label('status', 'status', h('input', { type: 'text', inputmode: 'numeric', name: 'status', value: values.status || '', placeholder: 'any', size: 4 })));
  if (fields.includes('header')) parts.push(label('header', 'header', h('input', { type: 'text', name: 'header', value: values.header || '', placeholder: 'name:value' })));
  const form = h('form', { class: 'filters', id: 'filters' }, parts, h('button', { type: 'submit', text: 'Apply' }));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const next = {};
    for (const [k, el] of Object.entries(inputs)) next[k] = el.value.trim();
    onApply(next);
  });
  return form;
}

const FILTER_KEYS = ['from', 'to', 'model', 'user', 'status', 'header'];
function currentFilters() {
  const p = params();
  const out = {};
  for (const k of FILTER_KEYS) if (p.get(k)) out[k] = p.get(k);
  return out;
}

async function pageLogs(main) {
  main.append(h('h1', { text: 'Logs' }));
  const f = currentFilters();
  const offset = Number(params().get('offset') || 0);
  main.append(filterForm(FILTER_KEYS, f, (next) => navigate(next)));
  const data = await api(`/api/sessions${qs(Object.assign({}, f, { offset, limit: 50 }))}`);
  main.append(h('h2', { text: 'Sessions' }));
  main.append(table(['last activity (UTC)', 'user', 'agent', 'requests', 'tokens in / out', 'cost', 'duration', 'session'],
    data.sessions.map((x) => h('tr', {},
      h('td', { text: fmtTime(x.last_ms) }),
      h('td', { text: x.login }),
      h('td', { class: 'agent', text: x.agent || '—' }),
      h('td', { class: 'num', text: fmtInt(x.requests) }),
      h('td', { class: 'num', text: `${fmtInt(x.input_tokens)} / ${fmtInt(x.output_tokens)}` }),
      h('td', { class: 'num', text: fmtCost(x.cost_nanodollars) }),
      h('td', { class: 'num', text: fmtDuration(x.last_ms - x.first_ms) }),
      h('td', {}, h('a', {
        class: 'session-link',
        href: `/ui/logs/sessions/${encodeURIComponent(x.session_id)}${qs({ user: ME.role === 'admin' ? x.login : '' })}`,
        text: x.session_id.length > 24 ? `${x.session_id.slice(0, 24)}…` : x.session_id,
        title: x.session_id,
      })))),
    { id: 'sessions', empty: 'No sessions match.' }));
  main.append(pager(data, offset, (o) => navigate(Object.assign({}, f, { offset: o }))));
}

async function pageSession(main, id) {
  const p = params();
  const offset = Number(p.get('offset') || 0);
  const user = p.get('user') || '';
  main.append(h('p', {}, h('a', { href: '/ui/logs', text: '← All sessions' })));
  main.append(h('h1', { text: 'Session' }), h('p', { class: 'mono', text: id }));
  const data = await api(`/api/sessions/${encodeURIComponent(id)}${qs({ user, offset, limit: 50 })}`);
  for (const x of data.sessions) {
    main.append(h('div', { class: 'cards' },
      card('user', x.login), card('agent', x.agent || '—'), card('requests', fmtInt(x.requests)),
      card('tokens in / out', `${fmtInt(x.input_tokens)} / ${fmtInt(x.output_tokens)}`),
      card('cost', fmtCost(x.cost_nanodollars)), card('duration', fmtDuration(x.last_ms - x.first_ms))));
  }
  main.append(h('h2', { text: 'Requests' }));
  main.append(requestsTable(data.requests, { showUser: ME.role === 'admin' }));
  main.append(pager(data, offset, (o) => navigate({ user, offset: o })));
}

function kv(pairs) {
  return h('dl', { class: 'kv' }, pairs.filter((p) => p[1] !== undefined).flatMap(([k, v]) => [h('dt', { text: k }), h('dd', { text: v === null || v === '' ? '—' : String(v) })]));
}

function headerTable(pairs, id) {
  return table(['header', 'value'], (pairs || []).map(([n, v]) => h('tr', {}, h('td', { class: 'mono', text: n }), h('td', { class: 'mono wrap', text: v }))), { id, empty: 'Not captured.' });
}

function bodyBlock(body, id) {
  if (!body) return h('p', { class: 'muted', id, text: 'Not captured.' });
  const text = typeof body.content === 'string' ? body.content : JSON.stringify(body.content, null, 2);
  return h('div', {}, body.truncated ? h('p', { class: 'muted', text: 'Truncated at the capture limit.' }) : null,
    h('pre', { class: 'body', id, text }));
}

async function pageRequest(main, id) {
  main.append(h('p', {}, h('a', { href: '/ui/logs', text: '← All sessions' })));
  const r = await api(`/api/requests/${encodeURIComponent(id)}`);
  main.append(h('h1', { text: 'Request' }), h('p', { class: 'mono', id: 'request-id', text: r.id }));
  if (r.session_id) {
    main.append(h('p', {}, 'Session ', h('a', {
      href: `/ui/logs/sessions/${encodeURIComponent(r.session_id)}${qs({ user: ME.role === 'admin' ? r.identity.login : '' })}`, text: r.session_id,
    })));
  }
  const u = r.usage || {};
  main.append(h('div', { class: 'cols' },
    h('section', {}, h('h2', { text: 'Identity' }), kv([
      ['login', r.identity.login], ['display name', r.identity.display_name], ['node', r.identity.node_name],
      ['tags', (r.identity.tags || []).join(', ')], ['source', r.identity.source], ['user agent', r.user_agent]])),
    h('section', {}, h('h2', { text: 'Request' }), kv([
      ['time', r.time], ['method', r.method], ['path', r.path + (r.query ? `?${r.query}` : '')], ['API', r.api_type],
      ['provider', r.provider], ['model', r.model], ['requested model', r.requested_model],
      ['status', r.status], ['error', r.error], ['upstream request id', r.upstream_request_id]])),
    h('section', {}, h('h2', { text: 'Timing and usage' }), kv([
      ['duration', fmtDuration(r.duration_ms)], ['time to first byte', fmtDuration(r.ttfb_ms)],
      ['stream', r.stream ? (r.incomplete ? 'yes (incomplete)' : 'yes') : 'no'],
      ['input tokens', fmtInt(u.input)], ['output tokens', fmtInt(u.output)], ['cache read', fmtInt(u.cache_read)],
      ['cache write', fmtInt((u.cache_write_5m || 0) + (u.cache_write_1h || 0))], ['reasoning', fmtInt(u.reasoning)],
      ['cost', r.cost ? fmtCost(r.cost.nanodollars) : '—'], ['cost basis', r.cost ? r.cost.basis : '—']]))));
  main.append(h('h2', { text: 'Tool calls' }));
  main.append(table(['name', 'id', 'parameters'], (r.tool_calls || []).map((c) => h('tr', {},
    h('td', { class: 'mono', text: c.name }), h('td', { class: 'mono', text: c.id }),
    h('td', {}, h('pre', { class: 'body small', text: typeof c.params === 'string' ? c.params : JSON.stringify(c.params, null, 2) })))),
  { id: 'tool-calls', empty: 'No tool calls.' }));
  main.append(h('div', { class: 'cols two' },
    h('section', {}, h('h2', { text: 'Request headers' }), headerTable(r.request_headers, 'request-headers')),
    h('section', {}, h('h2', { text: 'Response headers' }), headerTable(r.response_headers, 'response-headers'))));
  main.append(h('h2', { text: 'Request body' }), bodyBlock(r.request_body, 'request-body'));
  main.append(h('h2', { text: 'Response body' }), bodyBlock(r.response_body, 'response-body'));
}

const PRICE_KINDS = ['input', 'output', 'input_cache_read', 'input_cache_write', 'input_cache_write_1h', 'reasoning'];

async function pageModels(main) {
  main.append(h('h1', { text: 'Models' }));
  const [models, providers, quotas] = await Promise.all([api('/v1/models'), api('/api/providers'),
    api('/api/quotas').catch(() => ({ buckets: [] }))]);
  const byId = new Map(providers.map((p) => [p.id, p]));
  const buckets = quotas.buckets || [];
  // The caller's buckets charged for each `provider/model`.
  const charged = new Map();
  for (const b of buckets) for (const m of b.models || []) charged.set(m, (charged.get(m) || []).concat([b]));
  main.append(h('p', { class: 'muted', text: 'The models your grants allow, with prices in USD per million tokens and the quota buckets each request is charged to.' }));
  main.append(table(['model', 'provider', 'description', 'API formats'].concat(PRICE_KINDS.map((k) => k.replace(/_/g, ' ')), ['quotas']),
    models.data.map((m) => {
      const pid = m.metadata && m.metadata.provider ? m.metadata.provider.id : m.owned_by;
      const p = byId.get(pid) || {};
      const flags = Object.entries(p.compatibility || {}).filter(([, on]) => on).map(([k]) => k);
      const price = m.pricing || {};
      const mine = charged.get(`${pid}/${m.id}`) || [];
      return h('tr', {},
        h('td', { class: 'mono', text: m.id }),
        h('td', { text: p.name || pid }),
        h('td', { text: p.description || '' }),
        h('td', { class: 'flags', text: flags.join(', ') }),
        PRICE_KINDS.map((k) => h('td', { class: 'num', text: price[k] !== undefined ? `$${shiftDecimal(price[k], 6)}` : '—' })),
        h('td', { class: 'quota-cell' }, mine.length ? mine.map((b) => h('div', { class: b.balance.startsWith('-') || b.balance === '$0.00' ? 'bad' : '',
          text: `${b.name}: ${b.balance} of ${b.capacity} (+${b.rate})` })) : h('span', { class: 'muted', text: 'none' })));
    }), { id: 'models', empty: 'No models are granted to you.' }));
  if (!buckets.length) return;
  const admin = ME && ME.role === 'admin';
  const status = h('div', { id: 'quota-status', role: 'status', class: 'status' });
  const row = (b) => {
    const balance = h('td', { class: 'num balance', text: b.balance });
    const updated = h('td', { text: b.updated_at || 'never used' });
    const cells = [h('td', { class: 'mono', text: b.name }), h('td', { class: 'mono', text: b.quota }), balance,
      h('td', { class: 'num', text: b.capacity }), h('td', { class: 'num', text: b.rate }), updated];
    if (admin) {
      const amount = h('input', { type: 'text', class: 'amount', placeholder: '$5.00', 'aria-label': `Refill ${b.name} by`, size: 8 });
      const button = h('button', { type: 'button', class: 'refill', text: 'Refill' });
      button.addEventListener('click', async () => {
        button.disabled = true;
        try {
          const r = await api('/api/quotas/refill', {
            method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ bucket: b.name, amount: amount.value.trim() }),
          });
          balance.textContent = r.balance;
          updated.textContent = r.updated_at || '';
          status.className = 'status ok';
          status.textContent = `Refilled ${b.name}: ${r.balance} of ${r.capacity}.`;
          amount.value = '';
        } catch (e) {
          status.className = 'status bad';
          status.textContent = `Not refilled: ${e.message}`;
        } finally {
          button.disabled = false;
        }
      });
      cells.push(h('td', {}, amount, ' ', button));
    }
    return h('tr', { 'data-bucket': b.name }, cells);
  };
  main.append(h('section', {}, h('h2', { text: 'Quota buckets' }),
    h('p', { class: 'muted', text: admin ? 'Every bucket in use and every shared quota. A refill adds up to the capacity.' : 'The buckets your requests are charged to.' }),
    table(['bucket', 'quota', 'balance', 'capacity', 'refills', 'updated'].concat(admin ? ['refill'] : []), buckets.map(row), { id: 'quotas' }),
    status));
}

async function pageUsage(main) {
  main.append(h('h1', { text: 'Usage' }));
  const f = currentFilters();
  const scoped = { from: f.from, to: f.to, model: f.model, user: f.user };
  main.append(filterForm(['from', 'to', 'model', 'user'], scoped, (next) => navigate(next)));
  const u = await api(`/api/usage${qs(scoped)}`);
  const t = u.totals;
  main.append(h('div', { class: 'cards' },
    card('requests', fmtInt(t.requests)), card('active users', fmtInt(u.active_users), 'active-users'),
    card('input tokens', fmtInt(t.input_tokens)), card('output tokens', fmtInt(t.output_tokens)),
    card('cost', fmtCost(t.cost_nanodollars))));
  main.append(h('p', {}, h('a', { href: `/api/usage.csv${qs(scoped)}`, id: 'csv', download: 'aperture-usage.csv', text: 'Export CSV' })));
  main.append(h('h2', { text: 'Tokens per day' }), dayChart(u.by_day));
  const rowsOf = (rows, link) => rows.map((r) => h('tr', {},
    h('td', {}, link ? h('a', { href: link(r.key), text: r.key }) : r.key || NO_MODEL),
    h('td', { class: 'num', text: fmtInt(r.requests) }), h('td', { class: 'num', text: fmtInt(r.input_tokens) }),
    h('td', { class: 'num', text: fmtInt(r.output_tokens) }), h('td', { class: 'num', text: fmtInt(r.cache_read_tokens) }),
    h('td', { class: 'num', text: fmtInt(r.cache_write_tokens) }), h('td', { class: 'num', text: fmtInt(r.reasoning_tokens) }),
    h('td', { class: 'num', text: fmtCost(r.cost_nanodollars) })));
  const cols = (first) => [first, 'requests', 'input', 'output', 'cache read', 'cache write', 'reasoning', 'cost'];
  const userLink = ME.role === 'admin' ? (login) => `/ui/dashboard/${encodeURIComponent(login)}` : null;
  main.append(h('div', { class: 'cols two' },
    h('section', {}, h('h2', { text: 'Top users' }), table(cols('user'), rowsOf(u.top_users, userLink), { id: 'top-users' })),
    h('section', {}, h('h2', { text: 'Top models' }), table(cols('model'), rowsOf(u.top_models), { id: 'top-models' }))));
  main.append(h('h2', { text: 'Per user' }), table(cols('user'), rowsOf(u.by_user, userLink), { id: 'by-user' }));
  main.append(h('h2', { text: 'Per model' }), table(cols('model'), rowsOf(u.by_model), { id: 'by-model' }));
  main.append(h('h2', { text: 'Per day' }), table(cols('day (UTC)'), rowsOf(u.by_day), { id: 'by-day' }));
}

// ---------------------------------------------------------------------------------------------
// Settings: the config editor

function diagnosticsList(diags, editor) {
  const list = h('ul', { class: 'diagnostics', id: 'diagnostics' });
  for (const d of diags) {
    const where = d.line ? `${d.line}:${d.column || 1}` : '—';
    const item = h('li', { class: d.severity },
      h('button', { type: 'button', class: 'goto', text: where, title: 'Show in the editor', onclick: () => gotoLine(editor, d.line, d.column) }),
      h('span', { class: 'sev', text: d.severity }),
      h('span', { class: 'msg', text: d.message }),
      d.path ? h('code', { class: 'ptr', text: d.path }) : null,
      d.help ? h('span', { class: 'help', text: d.help }) : null);
    list.append(item);
  }
  return list;
}

/** Selects line `line` (1-based) of the textarea and scrolls it into view. */
function gotoLine(editor, line, column) {
  if (!line) return;
  const lines = editor.value.split('\n');
  let start = 0;
  for (let i = 0; i < line - 1 && i < lines.length; i++) start += lines[i].length + 1;
  const len = (lines[line - 1] || '').length;
  editor.focus();
  editor.setSelectionRange(start + Math.max(0, (column || 1) - 1), start + len);
  const lh = parseFloat(getComputedStyle(editor).lineHeight) || 18;
  editor.scrollTop = Math.max(0, (line - 4) * lh);
}

async function pageSettings(main) {
  main.append(h('h1', { text: 'Settings' }));
  const status = h('div', { id: 'status', role: 'status', class: 'status' });
  const cfg = await api('/api/config');
  let hash = cfg.hash;
  const gutter = h('pre', { class: 'gutter', 'aria-hidden': 'true' });
  const editor = h('textarea', { id: 'editor', spellcheck: 'false', autocomplete: 'off', wrap: 'off', 'aria-label': 'Config' });
  editor.value = cfg.config;
  const marks = new Map();
  const paintGutter = () => {
    const n = editor.value.split('\n').length;
    let out = '';
    for (let i = 1; i <= n; i++) out += `${marks.has(i) ? '●' : ' '}${String(i).padStart(4)}\n`;
    gutter.textContent = out;
    gutter.scrollTop = editor.scrollTop;
  };
  editor.addEventListener('input', paintGutter);
  editor.addEventListener('scroll', () => { gutter.scrollTop = editor.scrollTop; });
  const diagBox = h('div', { id: 'diagnostics-box' });
  const show = (diags) => {
    marks.clear();
    for (const d of diags) if (d.line) marks.set(d.line, d.severity);
    paintGutter();
    diagBox.replaceChildren(diags.length ? diagnosticsList(diags, editor) : h('p', { class: 'ok', text: 'No problems found.' }));
  };
  const setStatus = (text, cls) => { status.className = `status ${cls || ''}`; status.textContent = text; };
  const validate = async () => {
    const v = await api('/aperture/config:validate', {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ config: editor.value }),
    });
    show(v.diagnostics || []);
    return v;
  };
  /** Runs `fn` with both buttons disabled, so a double click cannot save twice. */
  const busy = (fn) => async () => {
    for (const b of document.querySelectorAll('#main .toolbar button')) b.disabled = true;
    try {
      await fn();
    } finally {
      for (const b of document.querySelectorAll('#main .toolbar button')) b.disabled = false;
    }
  };
  const onValidate = async () => {
    try {
      const v = await validate();
      setStatus(v.Valid && !(v.diagnostics || []).length ? 'Valid.' : v.Valid ? 'Valid, with notes below.' : 'Not valid: see the problems below.', v.Valid ? 'ok' : 'bad');
    } catch (e) { setStatus(e.message, 'bad'); }
  };
  const onSave = async () => {
    try {
      const v = await validate();
      if (!v.Valid) {
        setStatus('Not saved: the config has problems (below). Nothing was changed.', 'bad');
        return;
      }
      const r = await api('/api/config', {
        method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ config: editor.value, hash }),
      });
      hash = r.hash;
      setStatus('Saved. The new config is in effect.', 'ok');
    } catch (e) {
      if (e.status === 409) {
        setStatus('Not saved: the config changed since it was loaded. Reload the page to see the current one.', 'bad');
      } else if (e.status === 422 && e.body && e.body.diagnostics) {
        show(e.body.diagnostics);
        setStatus(`Not saved: ${e.message}. Nothing was changed.`, 'bad');
      } else {
        setStatus(`Not saved: ${e.message}`, 'bad');
      }
    }
  };
  if (!cfg.config) {
    main.append(h('p', { class: 'muted', text: 'This gateway was not started from a config file: a save replaces the running config in memory only.' }));
  }
  main.append(h('p', { class: 'muted', text: 'Secrets show as "__REDACTED__"; leave them so and the saved file keeps their values.' }));
  main.append(h('div', { class: 'toolbar' },
    h('button', { type: 'button', id: 'validate', onclick: busy(onValidate), text: 'Validate' }),
    h('button', { type: 'button', id: 'save', class: 'primary', onclick: busy(onSave), text: 'Save' }), status));
  main.append(h('div', { class: 'editor-wrap' }, gutter, editor));
  main.append(h('h2', { text: 'Problems' }), diagBox);
  paintGutter();
}

// ---------------------------------------------------------------------------------------------
// Routing

/** Bumped on every render: a page whose data arrives after the user moved on is dropped. */
let renderSeq = 0;

async function route() {
  const seq = ++renderSeq;
  const main = document.getElementById('main');
  // Each page renders into a detached node that replaces the old page only if still current.
  const view = document.createElement('div');
  const path = location.pathname.replace(/\/+$/, '') || '/ui';
  let parts;
  try {
    parts = path.split('/').slice(2).map(decodeURIComponent);
  } catch (_) {
    parts = ['not-found'];
  }
  const page = parts[0] || 'dashboard';
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.page === page);
  main.replaceChildren(h('p', { class: 'muted', text: 'Loading…' }));
  try {
    if (page === 'dashboard') await pageDashboard(view, parts[1]);
    else if (page === 'logs' && parts[1] === 'sessions' && parts[2]) await pageSession(view, parts[2]);
    else if (page === 'logs' && parts[1] === 'requests' && parts[2]) await pageRequest(view, parts[2]);
    else if (page === 'logs') await pageLogs(view);
    else if (page === 'models') await pageModels(view);
    else if (page === 'usage') await pageUsage(view);
    else if (page === 'settings') await pageSettings(view);
    else view.append(h('h1', { text: 'Not found' }));
  } catch (e) {
    view.append(alertBox(e));
  }
  if (seq !== renderSeq) return;
  main.replaceChildren(...view.childNodes);
  document.body.dataset.ready = 'true';
}

async function start() {
  try {
    ME = await api('/api/me');
  } catch (e) {
    document.getElementById('main').replaceChildren(alertBox(e));
    document.body.dataset.ready = 'true';
    return;
  }
  document.getElementById('who').textContent = `${ME.login} · ${ME.role}`;
  document.getElementById('nav-settings').hidden = ME.role !== 'admin';
  window.addEventListener('popstate', route);
  await route();
}

start();
