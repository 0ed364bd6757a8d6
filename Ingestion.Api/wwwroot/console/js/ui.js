// Small DOM helpers. Data only ever enters the page as text nodes or attribute values:
// never through innerHTML.

const svgNs = 'http://www.w3.org/2000/svg';
const svgTags = new Set(['svg', 'polyline', 'line', 'path', 'g', 'text', 'rect', 'title']);

/**
 * h('a', { href: '#/jobs', class: 'x', onclick: fn }, 'text', child, [more]): an element.
 * Attributes whose value is null, undefined or false are left out; true sets an empty one.
 */
export function h(tag, attrs, ...children) {
  const element = svgTags.has(tag) ? document.createElementNS(svgNs, tag) : document.createElement(tag);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      element.addEventListener(name.slice(2).toLowerCase(), value);
    } else if (name === 'value' || name === 'checked') {
      element[name] = value;
    } else {
      element.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(element, child);
    else element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Shows an API problem's detail (or any error's message) as an alert in container. */
export function showProblem(container, error) {
  const box = h('div', { class: 'problem', role: 'alert' },
    h('strong', null, error?.title && error.title !== error.detail ? `${error.title}: ` : ''),
    error?.detail ?? error?.message ?? String(error));
  container.querySelectorAll(':scope > .problem').forEach((old) => old.remove());
  container.prepend(box);
  return box;
}

const numberFormat = new Intl.NumberFormat('en');

export function formatNumber(value) {
  return value === null || value === undefined ? '–' : numberFormat.format(value);
}

export function formatBytes(bytes) {
  if (bytes === null || bytes === undefined) return '–';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** 75 → "1 min 15 s"; null or not finite → "–". */
export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '–';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/** How long ago an ISO timestamp was: "12 s ago", "3 min ago", "2 h ago", "4 d ago". */
export function formatAge(iso, now = Date.now()) {
  if (!iso) return '–';
  const seconds = Math.max(0, (now - Date.parse(iso)) / 1000);
  if (seconds < 60) return `${Math.round(seconds)} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86400)} d ago`;
}

export function formatTime(iso) {
  return iso ? new Date(iso).toLocaleString() : '–';
}

/**
 * A table: columns are { label, value: row => text or node, class? }. Cells carry their
 * column's label (data-label) so narrow screens can show each row as a card.
 */
export function table(columns, rows, { caption, empty = 'Nothing here yet.' } = {}) {
  if (rows.length === 0) return h('p', { class: 'empty' }, empty);
  return h('div', { class: 'table-wrap' },
    h('table', null,
      caption ? h('caption', null, caption) : null,
      h('thead', null, h('tr', null, columns.map((c) => h('th', { scope: 'col', class: c.class }, c.label)))),
      h('tbody', null, rows.map((row) => h('tr', null,
        columns.map((c) => h('td', { class: c.class, 'data-label': c.label }, c.value(row))))))));
}

/** A labelled form field: label, then the control, then an optional hint tied by aria-describedby. */
export function field(label, control, hint) {
  const id = control.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  control.id = id;
  const hintNode = hint ? h('small', { id: `${id}-hint`, class: 'hint' }, hint) : null;
  if (hintNode) control.setAttribute('aria-describedby', hintNode.id);
  return h('div', { class: 'field' }, h('label', { for: id }, label), control, hintNode);
}

/** The status of a job as a badge whose class names the state. */
export function statusBadge(status) {
  return h('span', { class: `badge status-${status}` }, status);
}

/** What a job works on: its dataset, its statement's account, or its sync's source. */
export function jobSubject(job) {
  if (job.statement) return `account ${job.statement.accountId}`;
  if (job.sync) return job.dataset ? `${job.sync.source} → ${job.dataset}` : job.sync.source;
  return job.dataset ?? '–';
}

/** A job's progress in words, whatever its kind: "rows loaded 12,000 · rows rejected 3". */
export function progressText(progress) {
  if (!progress) return '–';
  return Object.entries(progress)
    .filter(([, value]) => typeof value === 'number')
    .map(([name, value]) => `${name.replace(/([A-Z0-9]+)/g, ' $1').toLowerCase()} ${name.startsWith('bytes') ? formatBytes(value) : formatNumber(value)}`)
    .join(' · ');
}

/** Whether a job has reached a final state: only an unfinished job offers to be cancelled. */
export function isFinished(job) {
  return !job.links?.cancel;
}
