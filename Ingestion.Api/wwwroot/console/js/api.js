// The console's one door to the HTTP API: same origin, the session cookie, and the session's
// CSRF token on every state-changing request. A non-2xx answer becomes an ApiError carrying
// the RFC 9457 problem; a 401 also tells the shell, which asks to sign in again.

const unsafeMethods = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export class ApiError extends Error {
  constructor(status, problem) {
    const title = problem?.title ?? `HTTP ${status}`;
    super(problem?.detail ?? title);
    this.name = 'ApiError';
    this.status = status;
    this.title = title;
    this.detail = problem?.detail ?? title;
    this.problem = problem ?? null;
  }
}

let csrfToken = null;
let onUnauthorized = () => {};

/** The shell sets these: the session's CSRF token, and what to do when the session has ended. */
export function configure({ csrf, unauthorized }) {
  if (csrf !== undefined) csrfToken = csrf;
  if (unauthorized !== undefined) onUnauthorized = unauthorized;
}

function headersFor(method, extra) {
  const headers = { Accept: 'application/json', ...extra };
  if (unsafeMethods.has(method) && csrfToken) headers['X-CSRF-Token'] = csrfToken;
  return headers;
}

async function problemOf(response) {
  const type = response.headers.get('Content-Type') ?? '';
  if (type.includes('json')) {
    try {
      return await response.json();
    } catch {
      // An unreadable body: the status alone says what happened.
    }
  }
  return { title: response.statusText || `HTTP ${response.status}`, status: response.status };
}

function failed(status, problem, { expectUnauthorized = false } = {}) {
  const error = new ApiError(status, problem);
  if (status === 401 && !expectUnauthorized) onUnauthorized(error);
  return error;
}

async function request(method, path, body, options = {}) {
  const init = { method, credentials: 'same-origin', headers: headersFor(method, options.headers) };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (!response.ok) throw failed(response.status, await problemOf(response), options);
  const type = response.headers.get('Content-Type') ?? '';
  if (!type.includes('json')) return null;
  return response.json();
}

/**
 * Sends a file as the request body with XMLHttpRequest (fetch reports no upload progress).
 * onProgress({ loaded, total }) follows the bytes sent; options.signal aborts the upload.
 */
function upload(path, file, { onProgress, signal, headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', path);
    for (const [name, value] of Object.entries(headersFor('POST', { 'Content-Type': file.type || 'text/csv', ...headers }))) {
      xhr.setRequestHeader(name, value);
    }
    xhr.upload.addEventListener('progress', (e) => onProgress?.({ loaded: e.loaded, total: e.lengthComputable ? e.total : file.size }));
    xhr.addEventListener('load', () => {
      let body = null;
      try {
        body = xhr.responseText ? JSON.parse(xhr.responseText) : null;
      } catch {
        body = { title: `HTTP ${xhr.status}` };
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body);
      else reject(failed(xhr.status, body));
    });
    xhr.addEventListener('error', () => reject(new ApiError(0, { title: 'Network error', detail: 'The upload was cut before the API answered; check the connection and try again.' })));
    xhr.addEventListener('abort', () => reject(new ApiError(0, { title: 'Upload cancelled', detail: 'The upload was cancelled; nothing was created.' })));
    signal?.addEventListener('abort', () => xhr.abort());
    xhr.send(file);
  });
}

export const api = {
  get: (path, options) => request('GET', path, undefined, options),
  post: (path, body, options) => request('POST', path, body, options),
  put: (path, body, options) => request('PUT', path, body, options),
  del: (path, options) => request('DELETE', path, undefined, options),
  upload,
  /** Server-Sent Events from this origin; the cookie goes with them. */
  stream: (path) => new EventSource(path),
};

/** The session: sign in with a key, find the current one, sign out. */
export const session = {
  signIn: (apiKey) => request('POST', '/v1/session', { apiKey }, { expectUnauthorized: true }),
  current: () => request('GET', '/v1/session', undefined, { expectUnauthorized: true }),
  signOut: () => request('DELETE', '/v1/session', undefined, { expectUnauthorized: true }),
};
