// #/jobs/{id}: one job: what it works on, its live progress (over SSE while it runs), its
// error, its history as a timeline with actors, its webhook deliveries with every attempt.
import { formatTime, h, jobSubject, showProblem, statusBadge, table } from '../ui.js';
import { watchJob } from './live.js';

function facts(job) {
  const rows = [
    ['Kind', job.kind],
    ['Works on', jobSubject(job)],
    job.tenant ? ['Tenant', job.tenant] : null,
    ['Created', formatTime(job.createdAt)],
    ['Started', formatTime(job.startedAt)],
    ['Finished', formatTime(job.completedAt)],
    job.cancellation ? ['Cancelled by', `${job.cancellation.by}${job.cancellation.stoppedAfterLine ? `, after line ${job.cancellation.stoppedAfterLine}` : ''}`] : null,
  ].filter(Boolean);
  return h('dl', { class: 'facts' }, rows.map(([term, value]) => [h('dt', null, term), h('dd', null, value)]));
}

/** A synced job's reconciliation, with the keys the upstream served again and where (GET /v1/jobs/{id} only). */
function reconciliation(job) {
  const r = job.reconciliation;
  if (!r) return null;
  const keys = r.duplicateKeys?.keys ?? [];
  return h('section', { 'aria-labelledby': 'reconciliation-title' },
    h('h2', { id: 'reconciliation-title' }, 'Reconciliation'),
    h('p', null, `expected ${r.expected ?? 'unknown'}, distinct keys loaded ${r.distinctKeysLoaded}, duplicates ${r.duplicates}, `
      + `rejected ${r.rejects}, difference ${r.difference ?? 'unknown'}`),
    r.duplicates > 0 && r.duplicateKeys && !r.duplicateKeys.complete
      ? h('p', { class: 'hint' }, `The first ${keys.length} keys are listed; the job met more.`) : null,
    r.duplicates > 0 ? table([
      { label: 'Key', value: (k) => h('span', { class: 'mono' }, JSON.stringify(k.key)) },
      { label: 'Seen again', value: (k) => String(k.times) },
      { label: 'Where (partition/page/record)', value: (k) => k.places.map((p) => `${p.partition}/${p.page}/${p.record}`).join(', ') },
    ], keys, { caption: 'Keys seen more than once', empty: 'Reload the page to list the keys.' }) : null);
}

function timeline(history) {
  if (history.events.length === 0) return h('p', { class: 'empty' }, 'No history yet.');
  return h('ol', { class: 'timeline' }, history.events.map((e) => h('li', null,
    h('div', null,
      h('strong', null, e.type === 'transition' ? `${e.from} → ${e.to}` : e.type),
      e.what ? ` (${e.what})` : ''),
    h('div', { class: 'when' },
      h('time', { datetime: e.at }, formatTime(e.at)), ' · ', h('span', { class: 'mono' }, e.actor ?? 'system')),
    e.detail ? h('div', { class: 'hint' }, typeof e.detail === 'string' ? e.detail : JSON.stringify(e.detail))
      : null)));
}

function webhooks(data) {
  if (data.deliveries.length === 0) return h('p', { class: 'empty' }, 'No webhook deliveries yet.');
  return data.deliveries.map((d) => h('div', { class: 'card' },
    h('p', null, h('span', { class: 'mono' }, d.url), ' ', statusBadge(d.status), ` ${d.attempts} attempt(s)`,
      d.nextAttemptAt ? ` · next ${formatTime(d.nextAttemptAt)}` : ''),
    table([
      { label: 'Attempt', value: (a) => String(a.attempt ?? a.number ?? '') },
      { label: 'At', value: (a) => formatTime(a.at ?? a.startedAt) },
      { label: 'Result', value: (a) => (a.statusCode ? `HTTP ${a.statusCode}` : a.error ?? '–') },
      { label: 'Took', value: (a) => (a.durationMs !== undefined ? `${a.durationMs} ms` : '–') },
    ], d.history ?? [], { caption: 'Attempts', empty: 'No attempt yet.' })));
}

export async function render(main, { api, params }) {
  const id = params.id;
  const title = h('h1', null, 'Job ', h('span', { class: 'mono' }, id));
  main.append(title);
  let job;
  try {
    job = await api.get(`/v1/jobs/${encodeURIComponent(id)}`);
  } catch (error) {
    showProblem(main, error);
    return undefined;
  }

  const summary = h('section', { class: 'card', 'aria-label': 'Summary' });
  const live = h('div');
  const history = h('section', { 'aria-labelledby': 'history-title' }, h('h2', { id: 'history-title' }, 'History'));
  const historyBody = h('div');
  history.append(historyBody);
  const hooks = job.links?.webhooks
    ? h('section', { 'aria-labelledby': 'hooks-title' }, h('h2', { id: 'hooks-title' }, 'Webhooks'))
    : null;
  const hooksBody = h('div');
  hooks?.append(hooksBody);
  main.append(...[summary, live, history, hooks].filter(Boolean));

  let lastStatus = null;
  async function refreshDetails(current) {
    summary.replaceChildren(h('p', null, statusBadge(current.status)), facts(current));
    try {
      // The stream's view leaves the duplicate keys out: only the job's own GET reads them.
      const detailed = current.reconciliation && !current.reconciliation.duplicateKeys
        ? await api.get(`/v1/jobs/${encodeURIComponent(id)}`) : current;
      summary.append(...[reconciliation(detailed)].filter(Boolean));
      historyBody.replaceChildren(timeline(await api.get(`/v1/jobs/${id}/history`)));
      if (hooks) hooksBody.replaceChildren(...[webhooks(await api.get(`/v1/jobs/${id}/webhooks`))].flat());
    } catch (error) {
      if (error?.status !== 401) showProblem(main, error);
    }
  }

  await refreshDetails(job);
  lastStatus = job.status;
  // The timeline and webhooks are read again whenever the job changes state.
  return watchJob(live, id, {
    api,
    onChange: (changed) => {
      if (changed.status !== lastStatus) {
        lastStatus = changed.status;
        refreshDetails(changed);
      }
    },
  });
}
