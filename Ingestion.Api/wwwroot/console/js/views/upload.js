// #/upload: pick a dataset, drop or choose a CSV, watch the bytes go up (speed, time left),
// then, on the same page, the job's live progress. Leaving or closing the page stops only
// the watching: the job runs on, and its page (#/jobs/{id}) shows it live again.
import { field, formatBytes, formatDuration, h, showProblem } from '../ui.js';
import { watchJob } from './live.js';

export async function render(main, { api, params }) {
  main.append(h('h1', null, 'Upload a CSV'));
  let datasets;
  try {
    datasets = await api.get('/v1/datasets');
  } catch (error) {
    showProblem(main, error);
    return undefined;
  }

  const dataset = h('select', { name: 'dataset', required: true },
    datasets.map((d) => h('option', { value: d.name, selected: d.name === params.dataset }, d.name)));
  const input = h('input', { type: 'file', name: 'file', accept: '.csv,text/csv', class: 'file' });
  const chosen = h('p', { class: 'hint', 'aria-live': 'polite' }, 'No file chosen.');
  const drop = h('div', { class: 'drop' },
    h('p', null, 'Drag a CSV file here, or choose one.'),
    field('CSV file', input),
    chosen);
  const send = h('button', { type: 'submit', disabled: true }, 'Upload');
  const stop = h('button', { type: 'button', class: 'secondary', hidden: true }, 'Cancel upload');
  const form = h('form', { class: 'card', 'aria-label': 'Upload' },
    field('Dataset', dataset, 'The file\'s header names the dataset\'s columns, in any order.'),
    drop,
    h('div', { class: 'actions' }, send, stop));

  const bar = h('progress', { class: 'progress', max: 1, value: 0, 'aria-label': 'Upload progress' });
  const barText = h('p', { class: 'hint', id: 'upload-status', role: 'status' });
  const sending = h('section', { class: 'card', hidden: true, 'aria-labelledby': 'sending-title' },
    h('h2', { id: 'sending-title' }, 'Sending'), bar, barText);
  const job = h('div');
  main.append(form, sending, job);

  let file = null;
  let controller = null;
  let unwatch = null;

  function choose(picked) {
    file = picked ?? null;
    chosen.textContent = file ? `${file.name}, ${formatBytes(file.size)}` : 'No file chosen.';
    send.disabled = !file;
  }

  input.addEventListener('change', () => choose(input.files[0]));
  drop.addEventListener('dragover', (event) => {
    event.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (event) => {
    event.preventDefault();
    drop.classList.remove('over');
    if (event.dataTransfer.files.length > 0) choose(event.dataTransfer.files[0]);
  });
  stop.addEventListener('click', () => controller?.abort());

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!file) return;
    unwatch?.();
    job.replaceChildren();
    form.querySelectorAll(':scope > .problem').forEach((p) => p.remove());
    send.disabled = true;
    stop.hidden = false;
    sending.hidden = false;
    bar.max = file.size || 1;
    bar.value = 0;
    controller = new AbortController();
    const started = performance.now();
    try {
      const accepted = await api.upload(`/v1/datasets/${encodeURIComponent(dataset.value)}/uploads`, file, {
        signal: controller.signal,
        // Whatever type the system gave the file (Windows says application/vnd.ms-excel): the API reads it as CSV and checks it.
        headers: { 'Content-Type': 'text/csv' },
        onProgress: ({ loaded, total }) => {
          bar.max = total || 1;
          bar.value = loaded;
          const seconds = (performance.now() - started) / 1000;
          const speed = seconds > 0 ? loaded / seconds : 0;
          const left = speed > 0 ? (total - loaded) / speed : null;
          barText.textContent = `${Math.floor((loaded / (total || 1)) * 100)} % · ${formatBytes(loaded)} of ${formatBytes(total)}`
            + ` · ${formatBytes(speed)}/s · ${loaded >= total ? 'waiting for the API' : `${formatDuration(left)} left`}`;
        },
      });
      bar.value = bar.max;
      barText.textContent = `100 % · ${formatBytes(file.size)} sent in ${formatDuration((performance.now() - started) / 1000)}.`;
      job.append(h('p', null, 'Job ', h('a', { href: `#/jobs/${accepted.jobId}`, class: 'mono' }, accepted.jobId),
        ' runs on the server: closing this page does not stop it.'));
      unwatch = watchJob(job, accepted.jobId, { api });
    } catch (error) {
      barText.textContent = 'Not sent.';
      showProblem(form, error);
    } finally {
      stop.hidden = true;
      send.disabled = !file;
      controller = null;
    }
  });

  return () => {
    controller?.abort();
    unwatch?.();
  };
}
