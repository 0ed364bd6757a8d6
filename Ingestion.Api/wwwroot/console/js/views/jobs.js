// #/jobs: the tenant's jobs (every tenant's for an operator), newest first, filtered by
// state, kind and dataset, a page at a time with the API's cursor, refreshed while open.
import { formatAge, h, jobSubject, progressText, showProblem, statusBadge, table } from '../ui.js';

// The API's values for ?state= and ?kind= (GET /v1/jobs answers 400 with this list for any other).
const states = ['uploaded', 'processing', 'completed', 'requested', 'rendering', 'ready', 'queued', 'syncing', 'synced', 'failed', 'cancelled'];
const kinds = ['upload', 'statement', 'sync'];
const refreshMs = 3000;
const pageSize = 25;

function select(name, label, values, selected) {
  return h('div', { class: 'field' },
    h('label', { for: `jobs-${name}` }, label),
    h('select', { id: `jobs-${name}`, name },
      h('option', { value: '' }, 'any'),
      values.map((value) => h('option', { value, selected: value === selected }, value))));
}

function hashOf(filters) {
  const query = new URLSearchParams(Object.entries(filters).filter(([, v]) => v));
  const text = query.toString();
  return text ? `#/jobs?${text}` : '#/jobs';
}

export async function render(main, { api, params, session, navigate }) {
  const filters = { state: params.state ?? '', kind: params.kind ?? '', dataset: params.dataset ?? '', tenant: params.tenant ?? '' };
  const form = h('form', { class: 'filters card', role: 'search', 'aria-label': 'Filter jobs' },
    select('state', 'State', states, filters.state),
    select('kind', 'Kind', kinds, filters.kind),
    h('div', { class: 'field' },
      h('label', { for: 'jobs-dataset' }, 'Dataset'),
      h('input', { id: 'jobs-dataset', name: 'dataset', value: filters.dataset, pattern: '[a-z][a-z0-9_]*', size: 14 })),
    session.isOps
      ? h('div', { class: 'field' },
        h('label', { for: 'jobs-tenant' }, 'Tenant'),
        h('input', { id: 'jobs-tenant', name: 'tenant', value: filters.tenant, size: 10 }))
      : null,
    h('button', { type: 'submit' }, 'Filter'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const data = new FormData(form);
    navigate(hashOf(Object.fromEntries([...data.entries()].map(([k, v]) => [k, String(v).trim()]))));
  });
  form.addEventListener('change', (event) => {
    if (event.target.tagName === 'SELECT') form.requestSubmit();
  });

  const list = h('div', { id: 'jobs-list', 'aria-live': 'off' });
  const pager = h('nav', { class: 'actions', 'aria-label': 'Pages' });
  const live = h('p', { class: 'hint', role: 'status' });
  main.append(h('h1', null, 'Jobs'), form, live, list, pager);

  const query = new URLSearchParams(Object.entries(filters).filter(([, v]) => v));
  query.set('limit', String(pageSize));
  if (params.cursor) query.set('cursor', params.cursor);

  async function load() {
    const page = await api.get(`/v1/jobs?${query}`);
    const columns = [
      { label: 'Job', value: (j) => h('a', { href: `#/jobs/${j.jobId}`, class: 'mono' }, j.jobId) },
      { label: 'Kind', value: (j) => j.kind },
      session.isOps ? { label: 'Tenant', value: (j) => j.tenant ?? '–' } : null,
      { label: 'Dataset or account', value: jobSubject },
      { label: 'State', value: (j) => statusBadge(j.status) },
      { label: 'Progress', value: (j) => progressText(j.progress) },
      { label: 'Age', value: (j) => h('time', { datetime: j.createdAt, title: new Date(j.createdAt).toLocaleString() }, formatAge(j.createdAt)) },
    ].filter(Boolean);
    list.replaceChildren(table(columns, page.items, { caption: 'Jobs, newest first', empty: 'No jobs match.' }));
    pager.replaceChildren(...[
      params.cursor ? h('a', { href: hashOf(filters) }, 'First page') : null,
      page.nextCursor ? h('a', { href: hashOf({ ...filters, cursor: page.nextCursor }) }, 'Next page') : null,
    ].filter(Boolean));
    live.textContent = `Updated ${new Date().toLocaleTimeString()}; refreshes every ${refreshMs / 1000} s.`;
  }

  try {
    await load();
  } catch (error) {
    showProblem(main, error);
    return undefined;
  }

  const timer = setInterval(async () => {
    if (document.hidden) return;
    try {
      await load();
    } catch (error) {
      if (error?.status !== 401) showProblem(main, error);
    }
  }, refreshMs);
  return () => clearInterval(timer);
}
