// A job watched live over Server-Sent Events (GET /v1/jobs/{id}/stream): its counters, the
// rate over time on a small chart, cancel and retry, and what it produced once it ends.
// Shared by the upload view (right after the bytes are sent) and the job page.
import { formatDuration, formatNumber, h, isFinished, progressText, showProblem, statusBadge } from '../ui.js';

const maxSamples = 120;
const windowMs = 2000;

/** The counter a kind's rate is measured on: rows for loads and syncs, lines for statements. */
function counted(progress) {
  if (!progress) return null;
  if (typeof progress.rowsLoaded === 'number') return progress.rowsLoaded + (progress.rowsRejected ?? progress.rejects ?? 0);
  if (typeof progress.linesRendered === 'number') return progress.linesRendered;
  if (typeof progress.records === 'number') return progress.records;
  return null;
}

function unitOf(progress) {
  return typeof progress?.linesRendered === 'number' && typeof progress?.rowsLoaded !== 'number' ? 'lines' : 'rows';
}

function drawChart(canvas, samples) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || 600;
  const height = canvas.clientHeight || 140;
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  const g = canvas.getContext('2d');
  g.scale(ratio, ratio);
  g.clearRect(0, 0, width, height);
  const styles = getComputedStyle(canvas);
  g.strokeStyle = styles.getPropertyValue('--line').trim() || '#d9dee5';
  g.lineWidth = 1;
  for (let y = 0.25; y < 1; y += 0.25) {
    g.beginPath();
    g.moveTo(0, Math.round(height * y) + 0.5);
    g.lineTo(width, Math.round(height * y) + 0.5);
    g.stroke();
  }
  if (samples.length < 2) return;
  const peak = Math.max(1, ...samples.map((s) => s.rate));
  const t0 = samples[0].at;
  const span = Math.max(1, samples[samples.length - 1].at - t0);
  g.strokeStyle = styles.getPropertyValue('--accent').trim() || '#1f5fbf';
  g.lineWidth = 2;
  g.beginPath();
  samples.forEach((s, i) => {
    const x = ((s.at - t0) / span) * (width - 4) + 2;
    const y = height - 4 - (s.rate / peak) * (height - 20);
    if (i === 0) g.moveTo(x, y);
    else g.lineTo(x, y);
  });
  g.stroke();
  g.fillStyle = styles.color || '#1c2430';
  g.font = '12px system-ui, sans-serif';
  g.fillText(`peak ${formatNumber(Math.round(peak))}/s`, 6, 14);
}

/**
 * Watches job jobId in container until the returned function is called (leaving the page).
 * The job goes on whatever the page does: closing the tab stops only the watching.
 */
export function watchJob(container, jobId, { api, onChange } = {}) {
  const status = h('span', null, '…');
  const loaded = h('dd', { id: 'live-loaded' }, '–');
  const rejected = h('dd', { id: 'live-rejected' }, '–');
  const rate = h('dd', { id: 'live-rate' }, '–');
  const elapsed = h('dd', null, '–');
  const detail = h('p', { class: 'hint' });
  const canvas = h('canvas', { class: 'chart', role: 'img', 'aria-label': 'Rate over time' });
  const outcome = h('div', { class: 'outcome' });
  const actions = h('div', { class: 'actions' });
  const panel = h('section', { class: 'card live', 'aria-labelledby': `live-${jobId}` },
    h('h2', { id: `live-${jobId}` }, 'Progress ', status),
    h('dl', { class: 'stats' },
      h('div', null, h('dt', null, 'Rows loaded'), loaded),
      h('div', null, h('dt', null, 'Rows rejected'), rejected),
      h('div', null, h('dt', null, 'Rate'), rate),
      h('div', null, h('dt', null, 'Elapsed'), elapsed)),
    detail,
    canvas,
    actions,
    outcome);
  container.append(panel);

  let source = null;
  let closed = false;
  let recent = []; // { at, count } of the last few seconds
  const samples = [];

  function show(job) {
    status.replaceChildren(statusBadge(job.status));
    const p = job.progress ?? {};
    loaded.textContent = formatNumber(p.rowsLoaded ?? p.linesRendered ?? p.records ?? null);
    rejected.textContent = formatNumber(p.rowsRejected ?? p.rejects ?? null);
    detail.textContent = progressText(job.progress);
    const started = job.startedAt ? Date.parse(job.startedAt) : null;
    const ended = job.completedAt ? Date.parse(job.completedAt) : Date.now();
    elapsed.textContent = started ? formatDuration((ended - started) / 1000) : '–';
    const count = counted(job.progress);
    const now = performance.now();
    if (count !== null) {
      // The rate over the last few seconds: events arrive in bursts, one per batch committed.
      recent.push({ at: now, count });
      while (recent.length > 2 && now - recent[1].at >= windowMs) recent.shift();
      const first = recent[0];
      if (now - first.at >= 500 && count >= first.count) {
        const perSecond = ((count - first.count) * 1000) / (now - first.at);
        samples.push({ at: now, rate: perSecond });
        if (samples.length > maxSamples) samples.shift();
        rate.textContent = `${formatNumber(Math.round(perSecond))} ${unitOf(job.progress)}/s`;
        drawChart(canvas, samples);
        canvas.setAttribute('aria-label', `Rate over time, now ${formatNumber(Math.round(perSecond))} ${unitOf(job.progress)} per second`);
      }
    }
    if (isFinished(job) && started && job.completedAt && count !== null) {
      const seconds = (Date.parse(job.completedAt) - started) / 1000;
      if (seconds > 0) rate.textContent = `${formatNumber(Math.round(count / seconds))} ${unitOf(job.progress)}/s average`;
    }
    renderActions(job);
    onChange?.(job);
  }

  function renderActions(job) {
    actions.replaceChildren(...[
      job.links?.cancel ? h('button', { type: 'button', class: 'danger', onclick: () => act('cancel') }, 'Cancel job') : null,
      job.links?.retry ? h('button', { type: 'button', onclick: () => act('retry') }, 'Retry job') : null,
    ].filter(Boolean));
  }

  async function act(what) {
    for (const button of actions.querySelectorAll('button')) button.disabled = true;
    try {
      await api.post(`/v1/jobs/${jobId}/${what}`);
      if (what === 'retry') {
        outcome.replaceChildren();
        open();
      } else {
        await refresh();
      }
    } catch (error) {
      showProblem(panel, error);
      for (const button of actions.querySelectorAll('button')) button.disabled = false;
    }
  }

  // The finished job as GET shows it: with the presigned links the stream does not carry.
  async function finish() {
    const job = await api.get(`/v1/jobs/${jobId}`);
    show(job);
    const parts = [];
    if (job.error) {
      parts.push(h('div', { class: 'problem', role: 'alert' }, h('strong', null, `${job.error.code}: `), job.error.message));
    }
    if (job.rejects) {
      parts.push(h('p', null, h('a', { href: job.rejects.url, download: `rejects-${jobId}.csv` },
        `Rejected rows (${formatNumber(job.rejects.count)}), CSV`)));
    }
    if (job.status === 'completed' || job.status === 'ready' || job.status === 'synced') {
      parts.push(h('p', { role: 'status' }, 'Finished.'));
    }
    outcome.replaceChildren(...parts);
  }

  async function refresh() {
    const job = await api.get(`/v1/jobs/${jobId}`);
    show(job);
    if (isFinished(job)) {
      stop();
      await finish();
    }
  }

  function stop() {
    source?.close();
    source = null;
  }

  function open() {
    stop();
    recent = [];
    source = api.stream(`/v1/jobs/${jobId}/stream`);
    const onEvent = (event) => {
      const job = JSON.parse(event.data);
      show(job);
      if (isFinished(job)) {
        stop();
        finish().catch((error) => showProblem(panel, error));
      }
    };
    source.addEventListener('state', onEvent);
    source.addEventListener('progress', onEvent);
    // The browser reconnects on its own (with Last-Event-ID); a stream refused outright
    // (the session ended, the job is gone) is told apart by asking for the job once.
    source.addEventListener('error', () => {
      if (closed || !source || source.readyState !== EventSource.CLOSED) return;
      refresh().catch((error) => {
        if (error?.status !== 401) showProblem(panel, error);
      });
    });
  }

  open();
  return () => {
    closed = true;
    stop();
  };
}
