'use strict';
// A simulator of the upstream HTTP APIs that sources sync from (seeds 003 and 004): newest-first
// cursor pagination whose cursors expire, a page-size cap, the same events by page number (Link
// header), by offset and by a next link in the body, a transactions API per account, header and
// query-parameter auth with SEPARATE budgets, three rate-header conventions, 429 with Retry-After,
// seeded 500/503 faults, mixed timestamp formats and meta.total. No npm dependencies.
//
// Events are not stored: event i (0 = oldest) is computed from the seed and i, so 3,000,000 events
// cost no memory and every run serves the same data. Timestamps are whole seconds and never
// decrease with i, so since/until map to index ranges by binary search.
//
// Rate limits. `policies` are the limits the API documents (what a source declares); `enforced`
// are the limits it really applies (default: the same), so a lower real limit can be learnt from
// its headers and 429s. Every request is counted against both, per credential (auth method + key):
//   http429     requests refused by the enforced limits;
//   over_policy requests that arrived beyond the documented limits (a well-paced client has 0).
// `window` is "fixed" (a window opens at its first request and lasts perSeconds, as the seed's
// relative X-RateLimit-Reset suggests) or "sliding" (at most `requests` in ANY perSeconds).
//
// usage: node server.js [--host 127.0.0.1] [--port 0] [--config file.json]
// Prints "simulator listening on http://HOST:PORT" once it listens.
// Control: GET /_sim/config, POST /_sim/config (replace the config, reset all state),
//          POST /_sim/append {"count": n} (n newer events), GET /_sim/stats, POST /_sim/stats/reset.
// Settings (POST /_sim/config or --config; unset ones take DEFAULTS below): events, seed, start/end (the
// events' times), pageSizeCap, defaultPageSize, keys (accepted API keys; [] accepts any), policies and
// enforced ({header: [{requests, perSeconds}], query: [...]}), window, rateHeaders, retryAfter,
// faults ({http500, http503}: shares of requests), cursorTtlSeconds, cursorExpiredStatus, timestampFormats,
// latencyMs, arrivalsPerSecond, accounts, transactionsPerAccount, repeats, repeatGap.
//
// Repeats (seed 004's 3,000,003-versus-3,000,000): `repeats` positions of the listing, spread evenly,
// serve again the event `repeatGap` positions older (same id, same record), so the listing has
// `events` entries and `meta.total` says so, but only events - repeats distinct ids. A gap of at least
// the page size puts the two on different pages. GET/POST /_sim/config lists them as `repeated`.
const http = require('http');
const fs = require('fs');

const DEFAULTS = Object.freeze({
  events: 10000,
  seed: 42,
  start: '2025-12-25T00:00:00Z',
  end: '2026-01-27T00:00:00Z',
  pageSizeCap: 5000,
  defaultPageSize: 100,
  keys: ['sim-key'],
  policies: { header: [{ requests: 10, perSeconds: 60 }], query: [{ requests: 5, perSeconds: 60 }] },
  enforced: null,
  window: 'fixed',
  rateHeaders: 'relative', // relative | epoch | ietf | none
  retryAfter: 'seconds', // seconds | date
  faults: { http500: 0, http503: 0 },
  cursorTtlSeconds: 120,
  cursorExpiredStatus: 400,
  timestampFormats: ['iso', 'unix_s', 'unix_ms'],
  latencyMs: 0,
  arrivalsPerSecond: 0, // events that keep arriving while it runs, each newer than all before (a live API)
  accounts: 5,
  transactionsPerAccount: 200,
  repeats: 0,
  repeatGap: 1,
});

const TYPES = ['page_view', 'page_view', 'page_view', 'click', 'click', 'api_call', 'form_submit',
  'scroll', 'purchase', 'error', 'video_play'];
const DEVICES = ['mobile', 'desktop', 'tablet'];
const CURRENCIES = ['EUR', 'USD', 'GBP'];

// ---------------------------------------------------------------- deterministic data

/** A 32-bit avalanche of (seed, a, b): the same inputs always give the same word. */
function mix(seed, a, b) {
  let h = (seed ^ Math.imul(a + 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x7f4a7c15, 0xc2b2ae35)) >>> 0;
  h ^= h >>> 16; h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13; h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

const hex8 = n => n.toString(16).padStart(8, '0');

function uuid(seed, kind, i) {
  const a = hex8(mix(seed, i, kind)), b = hex8(mix(seed, i, kind + 1));
  const c = hex8(mix(seed, i, kind + 2)), d = hex8(mix(seed, i, kind + 3));
  return `${a}-${b.slice(0, 4)}-4${b.slice(5, 8)}-${(8 | (parseInt(c[0], 16) & 3)).toString(16)}${c.slice(1, 4)}-${c.slice(4)}${d}`;
}

function parseTime(value, name) {
  if (value === undefined || value === null || value === '') return null;
  let ms;
  if (/^-?\d+(\.\d+)?$/.test(String(value))) {
    const n = Number(value);
    ms = Math.abs(n) >= 1e11 ? n : n * 1000; // seconds or milliseconds, as the data itself mixes them
  } else {
    ms = Date.parse(value);
  }
  if (!Number.isFinite(ms)) throw new BadRequest('invalid_parameter', `${name} must be ISO 8601, Unix seconds or Unix milliseconds.`);
  return Math.floor(ms / 1000);
}

class BadRequest extends Error {
  constructor(code, message, status = 400) { super(message); this.code = code; this.status = status; }
}

// ---------------------------------------------------------------- rate windows

/** One limit (`requests` per `perSeconds`), counted per credential, fixed or sliding. */
class Window {
  constructor(policy, mode) {
    this.limit = policy.requests;
    this.perMs = policy.perSeconds * 1000;
    this.policy = policy;
    this.mode = mode;
    this.ring = new Float64Array(this.limit); // sliding: the last `limit` counted arrivals
    this.next = 0;
    this.filled = 0;
    this.windowStart = -Infinity; // fixed
    this.count = 0;
  }

  /** Milliseconds until a request would be admitted (0: now). */
  waitMs(now) {
    if (this.mode === 'sliding') {
      if (this.filled < this.limit) return 0;
      const oldest = this.ring[this.next];
      return Math.max(0, oldest + this.perMs - now);
    }
    if (now >= this.windowStart + this.perMs) return 0;
    return this.count < this.limit ? 0 : this.windowStart + this.perMs - now;
  }

  count1(now) {
    if (this.mode === 'sliding') {
      this.ring[this.next] = now;
      this.next = (this.next + 1) % this.limit;
      this.filled = Math.min(this.filled + 1, this.limit);
      return;
    }
    if (now >= this.windowStart + this.perMs) { this.windowStart = now; this.count = 0; }
    this.count++;
  }

  remaining(now) {
    if (this.mode === 'sliding') {
      let used = 0;
      for (let k = 0; k < this.filled; k++) if (this.ring[k] > now - this.perMs) used++;
      return this.limit - used;
    }
    return now >= this.windowStart + this.perMs ? this.limit : Math.max(0, this.limit - this.count);
  }

  /** Milliseconds until the whole limit is available again. */
  resetMs(now) {
    if (this.mode === 'sliding') {
      const newest = this.filled === 0 ? -Infinity : this.ring[(this.next + this.limit - 1) % this.limit];
      return Math.max(0, newest + this.perMs - now);
    }
    return Math.max(0, this.windowStart + this.perMs - now);
  }
}

// ---------------------------------------------------------------- state

let config;
let state;

function configure(overrides) {
  const c = { ...DEFAULTS, ...overrides };
  c.policies = { ...DEFAULTS.policies, ...(overrides.policies || {}) };
  c.faults = { ...DEFAULTS.faults, ...(overrides.faults || {}) };
  const problems = [];
  for (const method of ['header', 'query']) {
    for (const p of [...(c.policies[method] || []), ...((c.enforced || {})[method] || [])]) {
      if (!(p.requests > 0 && p.perSeconds > 0)) problems.push(`policies.${method}: requests and perSeconds must be positive`);
    }
  }
  if (!(c.events >= 0)) problems.push('events must be >= 0');
  if (!(c.pageSizeCap > 0)) problems.push('pageSizeCap must be positive');
  if (!(c.arrivalsPerSecond >= 0)) problems.push('arrivalsPerSecond must be >= 0');
  if (!(Number.isInteger(c.repeatGap) && c.repeatGap >= 1)) problems.push('repeatGap must be a positive integer');
  // Repeats lie floor((events - repeatGap) / (repeats + 1)) or more apart: more than repeatGap, so no repeat serves
  // another repeat's position (whose event is itself a repeat) and `repeated` names the id actually served.
  if (!(Number.isInteger(c.repeats) && c.repeats >= 0 && (c.repeats === 0 || (c.repeats + 1) * (c.repeatGap + 1) <= c.events - c.repeatGap))) {
    problems.push('repeats must be a non-negative integer, and (repeats + 1) times (repeatGap + 1) at most events - repeatGap (repeats spaced more than repeatGap apart)');
  }
  if (!['fixed', 'sliding'].includes(c.window)) problems.push('window must be fixed or sliding');
  if (!['relative', 'epoch', 'ietf', 'none'].includes(c.rateHeaders)) problems.push('rateHeaders must be relative, epoch, ietf or none');
  if (!['seconds', 'date'].includes(c.retryAfter)) problems.push('retryAfter must be seconds or date');
  const startS = Math.floor(Date.parse(c.start) / 1000), endS = Math.floor(Date.parse(c.end) / 1000);
  if (!(endS > startS)) problems.push('start must be before end');
  const formats = c.timestampFormats.filter(f => ['iso', 'unix_s', 'unix_ms'].includes(f));
  if (formats.length === 0) problems.push('timestampFormats needs at least one of iso, unix_s, unix_ms');
  if (problems.length > 0) throw new BadRequest('invalid_config', problems.join('; '));

  config = c;
  state = {
    generation: ((state && state.generation) || 0) + 1,
    total: c.events,
    configuredAt: Date.now(),
    startS,
    spanS: endS - startS,
    baseCount: Math.max(1, c.events),
    formats,
    credentials: new Map(),
    faultCounter: 0,
    stats: emptyStats(),
    repeated: repeatedPositions(c),
  };
}

/** Position -> the older position whose event it serves again: `repeats` of them, spread evenly over the listing. */
function repeatedPositions(c) {
  const repeated = new Map();
  for (let k = 1; k <= c.repeats; k++) {
    const position = c.repeatGap + Math.floor(k * (c.events - c.repeatGap) / (c.repeats + 1));
    repeated.set(position, position - c.repeatGap);
  }
  return repeated;
}

/** What the control endpoints say of the configuration: with the ids served twice, for a test to expect. */
function describeConfig() {
  const repeated = [...state.repeated].map(([position, of]) => ({ position, of, id: uuid(config.seed, 100, of) }));
  return JSON.stringify({ ...config, total: currentTotal(), repeated });
}

function emptyStats() {
  return { requests: 0, requests_by_credential: {}, http429: 0, http5xx: 0, over_policy: 0,
    over_policy_by_credential: {}, http401: 0, cursor_expired: 0, events_served: 0,
    first_request_ms: null, last_answered_ms: null };
}

/** How many events exist now: the configured ones, those appended, and those that arrived since. */
const currentTotal = () => state.total + Math.floor((Date.now() - state.configuredAt) / 1000 * config.arrivalsPerSecond);

/** Event i's time (Unix seconds): spread evenly over [start, end) for the first `events`, later ones continue the pace. */
const eventTime = (i, st = state) => st.startS + Math.floor(i * st.spanS / st.baseCount);

/** The first index in [lo, hi) whose time is >= t (hi when none). */
function firstAtOrAfter(t, lo, hi) {
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (eventTime(mid) < t) lo = mid + 1; else hi = mid;
  }
  return lo;
}

function credentialOf(req, url) {
  const header = req.headers.authorization;
  if (header !== undefined) {
    const m = /^Bearer\s+(.+)$/.exec(header);
    return m ? { method: 'header', key: m[1].trim() } : null;
  }
  const key = url.searchParams.get('api_key');
  return key ? { method: 'query', key } : null;
}

function budgetOf(credential) {
  const id = `${credential.method}:${credential.key}`;
  let b = state.credentials.get(id);
  if (!b) {
    const documented = config.policies[credential.method] || [];
    const enforced = (config.enforced && config.enforced[credential.method]) || documented;
    b = { id, documented: documented.map(p => new Window(p, config.window)), enforced: enforced.map(p => new Window(p, config.window)) };
    state.credentials.set(id, b);
  }
  return b;
}

// ---------------------------------------------------------------- rendering

// Renderers take the view (state, config, stats) their request captured at its start: a page renders in slices, and a
// POST /_sim/config or stats reset between two slices must not mix two configurations in one page.
function timestampJson(view, t, i) {
  const format = view.state.formats[mix(view.config.seed, i, 7) % view.state.formats.length];
  if (format === 'unix_s') return String(t);
  if (format === 'unix_ms') return String(t * 1000);
  return `"${new Date(t * 1000).toISOString().replace('.000Z', 'Z')}"`;
}

function eventJson(view, position) {
  const i = view.state.repeated.get(position) ?? position;
  const s = view.config.seed;
  const t = eventTime(i, view.state);
  const user = mix(s, i, 11) % 3000;
  const type = TYPES[mix(s, i, 13) % TYPES.length];
  return `{"id":"${uuid(s, 100, i)}","type":"${type}","timestamp":${timestampJson(view, t, i)},`
    + `"user":{"id":"u_${user}","device":"${DEVICES[user % DEVICES.length]}"},`
    + `"session_id":"s_${mix(s, i, 17) % 60000}","value":${(mix(s, i, 19) % 100000) / 100}}`;
}

function transactionJson(view, account, n) {
  const s = view.config.seed;
  const t = view.state.startS + Math.floor(n * view.state.spanS / Math.max(1, view.config.transactionsPerAccount));
  const cents = mix(s, account * 1000003 + n, 23) % 500000;
  return `{"id":"txn_${account}_${n}","account_id":"${account}","user_id":"u_${account}",`
    + `"type":"${mix(s, account, n) % 3 === 0 ? 'credit' : 'debit'}","amount":"${(cents / 100).toFixed(2)}",`
    + `"currency":"${CURRENCIES[account % CURRENCIES.length]}","created_at":"${new Date(t * 1000).toISOString()}"}`;
}

// A page of 5,000 events takes tens of milliseconds of this single thread to render. Rendered in one go, a request
// arriving meanwhile would be admitted, and stamped by the rate limiter, only after it: two requests sent 100 ms apart
// could be stamped 40 ms apart, and the limiter would count a client that kept its policy as over it. An API's limiter
// stamps a request when it arrives (a gateway in front of the servers), so pages are rendered in slices that let
// arriving requests in between.
const RENDER_SLICE = 250;

/** Items hi-1 down to max(lo, hi-limit), newest first. */
async function renderRange(render, lo, hi, limit) {
  const parts = [];
  const stop = Math.max(lo, hi - limit);
  for (let i = hi - 1; i >= stop; i--) {
    parts.push(render(i));
    if (parts.length % RENDER_SLICE === 0) await new Promise(resolve => setImmediate(resolve));
  }
  return { json: `[${parts.join(',')}]`, count: parts.length, nextHi: stop };
}

// Cursors carry the remaining index range and when they were issued; they expire after cursorTtlSeconds.
function encodeCursor(view, kind, lo, hi) {
  return Buffer.from(`${view.state.generation}.${kind}.${lo}.${hi}.${Date.now()}`).toString('base64url');
}

function decodeCursor(view, value, kind) {
  const parts = Buffer.from(value, 'base64url').toString().split('.');
  const [generation, k, lo, hi, issued] = [Number(parts[0]), parts[1], Number(parts[2]), Number(parts[3]), Number(parts[4])];
  if (parts.length !== 5 || k !== kind || !Number.isInteger(lo) || !Number.isInteger(hi) || !(lo <= hi) || !Number.isFinite(issued)) {
    throw new BadRequest('invalid_cursor', 'The cursor is not one this API issued.');
  }
  if (generation !== view.state.generation || Date.now() - issued > view.config.cursorTtlSeconds * 1000) {
    view.stats.cursor_expired++;
    throw new BadRequest('cursor_expired',
      `The cursor expired (cursors live ${view.config.cursorTtlSeconds} s). Restart the listing with since/until.`,
      view.config.cursorExpiredStatus);
  }
  return { lo, hi };
}

function pageSize(url) {
  const raw = url.searchParams.get('limit') ?? url.searchParams.get('per_page');
  if (raw === null) return config.defaultPageSize;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new BadRequest('invalid_parameter', 'limit must be a positive integer.');
  return Math.min(n, config.pageSizeCap);
}

/** The [lo, hi) index range of the events the query's since (inclusive) and until (exclusive) select. */
function eventRange(url) {
  const since = parseTime(url.searchParams.get('since'), 'since');
  const until = parseTime(url.searchParams.get('until'), 'until');
  const total = currentTotal();
  const lo = since === null ? 0 : firstAtOrAfter(since, 0, total);
  const hi = until === null ? total : firstAtOrAfter(until, lo, total);
  return { lo, hi };
}

function nonNegativeInt(url, name, fallback) {
  const raw = url.searchParams.get(name);
  if (raw === null) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new BadRequest('invalid_parameter', `${name} must be a non-negative integer.`);
  return n;
}

function selfUrl(req, url, params) {
  const next = new URL(url.pathname, `http://${req.headers.host}`);
  for (const [k, v] of url.searchParams) if (!(k in params)) next.searchParams.set(k, v);
  for (const [k, v] of Object.entries(params)) next.searchParams.set(k, String(v));
  return next.toString();
}

// ---------------------------------------------------------------- endpoints

async function eventsByCursor(view, req, url, res, style) {
  const limit = pageSize(url);
  const cursor = url.searchParams.get('cursor');
  const range = cursor ? decodeCursor(view, cursor, 'e') : eventRange(url);
  const page = await renderRange(i => eventJson(view, i), range.lo, range.hi, limit);
  const hasMore = page.nextHi > range.lo;
  const next = hasMore ? encodeCursor(view, 'e', range.lo, page.nextHi) : null;
  view.stats.events_served += page.count;
  const total = range.hi - range.lo;
  const headers = {};
  if (next) headers['X-Next-Cursor'] = next;
  if (style === 'links') {
    const link = next ? JSON.stringify(selfUrl(req, url, { cursor: next })) : 'null';
    return send(res, 200, `{"data":${page.json},"links":{"next":${link}},"meta":{"total":${cursor ? 'null' : total}}}`, headers);
  }
  // meta.total: the events the listing selects, reported on its first page (as the seed's API reports 3,000,000).
  return send(res, 200, `{"data":${page.json},"meta":{"next_cursor":${next ? `"${next}"` : 'null'},"has_more":${hasMore},`
    + `"total":${cursor ? 'null' : total},"cursor_expires_in":${view.config.cursorTtlSeconds}}}`, headers);
}

async function eventsByPage(view, req, url, res) {
  const perPage = pageSize(url);
  const pageNumber = nonNegativeInt(url, 'page', 1);
  if (pageNumber < 1) throw new BadRequest('invalid_parameter', 'page starts at 1.');
  const { lo, hi } = eventRange(url);
  const top = hi - (pageNumber - 1) * perPage;
  const page = top > lo ? await renderRange(i => eventJson(view, i), lo, top, perPage) : { json: '[]', count: 0, nextHi: lo };
  view.stats.events_served += page.count;
  const lastPage = Math.max(1, Math.ceil((hi - lo) / perPage));
  const links = [];
  if (page.nextHi > lo) links.push(`<${selfUrl(req, url, { page: pageNumber + 1, per_page: perPage })}>; rel="next"`);
  links.push(`<${selfUrl(req, url, { page: lastPage, per_page: perPage })}>; rel="last"`);
  return send(res, 200, `{"data":${page.json},"meta":{"page":${pageNumber},"per_page":${perPage},"total":${hi - lo}}}`,
    { Link: links.join(', ') });
}

async function eventsByOffset(view, req, url, res) {
  const limit = pageSize(url);
  const offset = nonNegativeInt(url, 'offset', 0);
  const { lo, hi } = eventRange(url);
  const top = hi - offset;
  const page = top > lo ? await renderRange(i => eventJson(view, i), lo, top, limit) : { json: '[]', count: 0, nextHi: lo };
  view.stats.events_served += page.count;
  return send(res, 200, `{"data":${page.json},"meta":{"offset":${offset},"limit":${limit},"total":${hi - lo}}}`);
}

async function transactions(view, req, url, res, account) {
  if (!(account >= 1 && account <= config.accounts)) {
    return send(res, 404, JSON.stringify({ error: 'not_found', message: `There is no account ${account}.` }));
  }
  const limit = pageSize(url);
  const cursor = url.searchParams.get('cursor');
  let range;
  if (cursor) {
    range = decodeCursor(view, cursor, `t${account}`);
  } else {
    const since = parseTime(url.searchParams.get('since'), 'since');
    const n = config.transactionsPerAccount;
    const timeOf = k => state.startS + Math.floor(k * state.spanS / Math.max(1, n));
    let lo = 0;
    if (since !== null) { let a = 0, b = n; while (a < b) { const m = (a + b) >> 1; if (timeOf(m) < since) a = m + 1; else b = m; } lo = a; }
    range = { lo, hi: n };
  }
  const page = await renderRange(k => transactionJson(view, account, k), range.lo, range.hi, limit);
  const hasMore = page.nextHi > range.lo;
  const next = hasMore ? encodeCursor(view, `t${account}`, range.lo, page.nextHi) : null;
  return send(res, 200, `{"data":${page.json},"meta":{"next_cursor":${next ? `"${next}"` : 'null'},"has_more":${hasMore},`
    + `"total":${cursor ? 'null' : range.hi - range.lo}}}`);
}

// ---------------------------------------------------------------- rate limiting

/** Counts the request against the credential's limits; returns the ms to wait when refused, else 0. */
function admit(budget, now) {
  let over = false;
  for (const w of budget.documented) if (w.waitMs(now) > 0) over = true;
  for (const w of budget.documented) w.count1(now);
  if (over) {
    state.stats.over_policy++;
    state.stats.over_policy_by_credential[budget.id] = (state.stats.over_policy_by_credential[budget.id] || 0) + 1;
  }
  let wait = 0;
  for (const w of budget.enforced) wait = Math.max(wait, w.waitMs(now));
  if (wait === 0) for (const w of budget.enforced) w.count1(now);
  return wait;
}

function rateHeaders(budget, now) {
  const headers = {};
  if (config.rateHeaders === 'none' || budget.enforced.length === 0) return headers;
  if (config.rateHeaders === 'ietf') {
    const name = (w, k) => `"${w.policy.perSeconds}s${k}"`;
    headers['RateLimit-Policy'] = budget.enforced.map((w, k) => `${name(w, k)};q=${w.limit};w=${w.policy.perSeconds}`).join(', ');
    headers.RateLimit = budget.enforced.map((w, k) => `${name(w, k)};r=${w.remaining(now)};t=${Math.ceil(w.resetMs(now) / 1000)}`).join(', ');
    return headers;
  }
  // The tightest limit: the one with the fewest requests left, then the longest wait.
  let tight = budget.enforced[0];
  for (const w of budget.enforced) {
    if (w.remaining(now) < tight.remaining(now) || (w.remaining(now) === tight.remaining(now) && w.resetMs(now) > tight.resetMs(now))) tight = w;
  }
  const resetS = Math.ceil(tight.resetMs(now) / 1000);
  headers['X-RateLimit-Limit'] = String(tight.limit);
  headers['X-RateLimit-Remaining'] = String(tight.remaining(now));
  headers['X-RateLimit-Reset'] = String(config.rateHeaders === 'epoch' ? Math.ceil((now + tight.resetMs(now)) / 1000) : resetS);
  return headers;
}

function retryAfter(waitMs, now) {
  const seconds = Math.max(1, Math.ceil(waitMs / 1000));
  return config.retryAfter === 'date' ? new Date(Math.ceil((now + waitMs) / 1000) * 1000).toUTCString() : String(seconds);
}

// ---------------------------------------------------------------- server

function send(res, status, body, headers = {}) {
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), ...res.extraHeaders, ...headers });
  res.end(body);
}

function readJson(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', c => chunks.push(c));
    req.on('end', () => {
      try { resolve(chunks.length === 0 ? {} : JSON.parse(Buffer.concat(chunks).toString())); } catch (e) {
        reject(new BadRequest('invalid_json', e.message));
      }
    });
    req.on('error', reject);
  });
}

async function control(req, url, res) {
  if (url.pathname === '/_sim/stats' && req.method === 'GET') return send(res, 200, JSON.stringify(state.stats));
  if (url.pathname === '/_sim/stats/reset' && req.method === 'POST') { state.stats = emptyStats(); return send(res, 204, ''); }
  if (url.pathname === '/_sim/config' && req.method === 'GET') return send(res, 200, describeConfig());
  if (url.pathname === '/_sim/config' && req.method === 'POST') {
    configure(await readJson(req));
    return send(res, 200, describeConfig());
  }
  if (url.pathname === '/_sim/append' && req.method === 'POST') {
    const { count } = await readJson(req);
    if (!(Number.isInteger(count) && count > 0)) throw new BadRequest('invalid_parameter', 'count must be a positive integer.');
    state.total += count;
    const total = currentTotal();
    return send(res, 200, JSON.stringify({ total, newest: new Date(eventTime(total - 1) * 1000).toISOString() }));
  }
  return send(res, 404, JSON.stringify({ error: 'not_found', message: `No ${req.method} ${url.pathname}.` }));
}

async function handle(req, res) {
  const url = new URL(req.url, 'http://simulator');
  res.extraHeaders = {};
  if (url.pathname.startsWith('/_sim/')) return control(req, url, res);

  const now = Date.now();
  const view = { state, config, stats: state.stats };
  state.stats.requests++;
  // When the upstream first heard from a client and last finished answering one: a benchmark's time outside them is the
  // client's own (its start and its end), not the upstream's pace.
  if (view.stats.first_request_ms === null) view.stats.first_request_ms = now;
  res.on('finish', () => { view.stats.last_answered_ms = Date.now(); });
  const credential = credentialOf(req, url);
  if (!credential || (config.keys.length > 0 && !config.keys.includes(credential.key))) {
    state.stats.http401++;
    return send(res, 401, JSON.stringify({ error: 'unauthorized', message: 'Send Authorization: Bearer <key> or ?api_key=<key>.' }));
  }
  const budget = budgetOf(credential);
  state.stats.requests_by_credential[budget.id] = (state.stats.requests_by_credential[budget.id] || 0) + 1;
  const wait = admit(budget, now);
  res.extraHeaders = rateHeaders(budget, now);
  if (wait > 0) {
    state.stats.http429++;
    return send(res, 429, JSON.stringify({ error: 'rate_limited', message: `Too many requests for this credential; retry in ${Math.ceil(wait / 1000)} s.` }),
      { 'Retry-After': retryAfter(wait, now) });
  }

  const roll = mix(config.seed, ++state.faultCounter, 29) / 4294967296;
  if (roll < config.faults.http500 + config.faults.http503) {
    state.stats.http5xx++;
    const status = roll < config.faults.http500 ? 500 : 503;
    return send(res, status, JSON.stringify({ error: status === 500 ? 'internal_error' : 'unavailable', message: 'A simulated fault.' }));
  }

  if (config.latencyMs > 0) await new Promise(r => setTimeout(r, config.latencyMs));
  if (req.method !== 'GET') return send(res, 405, JSON.stringify({ error: 'method_not_allowed', message: 'Only GET.' }));
  switch (url.pathname) {
    case '/v1/events': return eventsByCursor(view, req, url, res, 'cursor');
    case '/v1/events/links': return eventsByCursor(view, req, url, res, 'links');
    case '/v1/events/pages': return eventsByPage(view, req, url, res);
    case '/v1/events/offset': return eventsByOffset(view, req, url, res);
    default: {
      const m = /^\/v1\/accounts\/(\d+)\/transactions$/.exec(url.pathname);
      if (m) return transactions(view, req, url, res, Number(m[1]));
      return send(res, 404, JSON.stringify({ error: 'not_found', message: `No ${url.pathname}.` }));
    }
  }
}

function main() {
  const args = process.argv.slice(2);
  const arg = (name, fallback) => { const k = args.indexOf(name); return k >= 0 ? args[k + 1] : fallback; };
  const host = arg('--host', '127.0.0.1');
  const port = Number(arg('--port', '0'));
  const file = arg('--config', null);
  configure(file ? JSON.parse(fs.readFileSync(file, 'utf8')) : {});

  const server = http.createServer((req, res) => {
    handle(req, res).catch(e => {
      if (e instanceof BadRequest) return send(res, e.status, JSON.stringify({ error: e.code, message: e.message }));
      console.error(e);
      return send(res, 500, JSON.stringify({ error: 'simulator_bug', message: String(e && e.message) }));
    });
  });
  server.keepAliveTimeout = 65000;
  server.listen(port, host, () => {
    const address = server.address();
    console.log(`simulator listening on http://${address.address}:${address.port}`);
  });
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main();
