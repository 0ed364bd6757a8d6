// The shell: session, navigation and a hash router that loads each view on demand
// (./views/<name>.js exporting render(main, ctx), which may return a cleanup function).
import { api, configure, session as sessionApi } from './api.js';
import { field, h, showProblem } from './ui.js';

const routes = [
  { pattern: /^\/upload$/, view: 'upload', title: 'Upload' },
  { pattern: /^\/jobs$/, view: 'jobs', title: 'Jobs' },
  { pattern: /^\/jobs\/([^/]+)$/, view: 'job', keys: ['id'], title: 'Job' },
  { pattern: /^\/datasets$/, view: 'datasets', title: 'Datasets' },
  { pattern: /^\/datasets\/([^/]+)$/, view: 'dataset', keys: ['name'], title: 'Dataset' },
  { pattern: /^\/statements$/, view: 'statements', title: 'Statements' },
  { pattern: /^\/sources$/, view: 'sources', title: 'Sources' },
  { pattern: /^\/sources\/([^/]+)$/, view: 'source', keys: ['name'], title: 'Source' },
  { pattern: /^\/ops$/, view: 'ops', title: 'Ops' },
];

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const who = document.getElementById('who');
let current = null; // { session }
let cleanup = null;
let rendering = 0;

function parse(hash) {
  const [path, query = ''] = hash.replace(/^#/, '').split('?');
  for (const route of routes) {
    const match = route.pattern.exec(path || '/');
    if (match) {
      const params = Object.fromEntries(new URLSearchParams(query));
      (route.keys ?? []).forEach((key, i) => { params[key] = decodeURIComponent(match[i + 1]); });
      return { route, params };
    }
  }
  return null;
}

function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function leave() {
  if (typeof cleanup === 'function') {
    try {
      cleanup();
    } catch (error) {
      console.warn('cleanup of the last view failed', error);
    }
  }
  cleanup = null;
}

async function route() {
  if (!current) return;
  const found = parse(location.hash);
  if (!found) {
    navigate(current.session.isOps ? '#/ops' : '#/jobs');
    return;
  }
  const { route: target, params } = found;
  leave();
  const turn = ++rendering;
  for (const link of nav.querySelectorAll('a')) {
    const here = link.getAttribute('href') === `#${location.hash.replace(/^#/, '').split('?')[0].split('/').slice(0, 2).join('/')}`;
    if (here) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  document.title = `${target.title} · Ingestion console`;
  main.replaceChildren(h('p', { class: 'loading' }, 'Loading…'));
  try {
    const module = await import(`./views/${target.view}.js`);
    if (turn !== rendering) return;
    main.replaceChildren();
    cleanup = await module.render(main, { api, params, session: current.session, navigate });
    if (turn !== rendering) leave();
  } catch (error) {
    if (turn !== rendering || error?.status === 401) return;
    main.replaceChildren(h('h1', null, target.title));
    showProblem(main, error);
  }
}

function signedIn(session) {
  current = { session };
  configure({ csrf: session.csrfToken });
  nav.hidden = false;
  nav.querySelector('[data-ops]').hidden = !session.isOps;
  who.hidden = false;
  document.getElementById('who-name').textContent = session.isOps ? 'Operator' : `Tenant ${session.tenant}`;
  route();
}

function signInForm(message) {
  leave();
  current = null;
  configure({ csrf: null });
  nav.hidden = true;
  who.hidden = true;
  document.title = 'Sign in · Ingestion console';
  const key = h('input', { type: 'password', name: 'apiKey', autocomplete: 'off', required: true, spellcheck: 'false' });
  const button = h('button', { type: 'submit' }, 'Sign in');
  const form = h('form', { class: 'card sign-in', 'aria-labelledby': 'sign-in-title' },
    h('h1', { id: 'sign-in-title' }, 'Sign in'),
    message ? h('p', { class: 'notice', role: 'status' }, message) : null,
    field('API key', key, 'Your tenant\'s or an operator\'s key. It is exchanged for a session cookie and not kept by this page.'),
    button);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    button.disabled = true;
    try {
      const session = await sessionApi.signIn(key.value);
      key.value = '';
      signedIn(session);
    } catch (error) {
      showProblem(form, error);
      key.focus();
    } finally {
      button.disabled = false;
    }
  });
  main.replaceChildren(form);
  key.focus();
}

document.getElementById('sign-out').addEventListener('click', async () => {
  try {
    await sessionApi.signOut();
  } catch (error) {
    // 401: already ended on the server, so the page signs out all the same. Anything else (a 503,
    // no network) may have left the session open: say so and keep the shell, to try again.
    if (error?.status !== 401) {
      showProblem(main, {
        title: 'Not signed out',
        detail: `The session may still be open (${error?.detail ?? error?.message ?? error}). Try again.`,
      });
      return;
    }
  }
  signInForm('You have signed out.');
});

configure({ unauthorized: () => signInForm('Your session has expired, sign in again.') });
window.addEventListener('hashchange', route);

try {
  signedIn(await sessionApi.current());
} catch (error) {
  if (error?.status === 401) signInForm();
  else {
    main.replaceChildren(h('h1', null, 'Ingestion console'));
    showProblem(main, error);
  }
}
