// The MIST HTTP API as the page uses it: JSON in and out, the bearer token on
// every request to `/api/v1/`, and the server's `{error: {code, message}}`
// turned into an `ApiError`.
//
// The token lives in `sessionStorage` (one tab, gone when it closes), or in
// `localStorage` when the listener ticked "Remember me" (every tab, until it
// expires or they log out); docs/web.md says why either is acceptable. It is
// sent only to the server that served this page (`isApiUrl`), never to
// storage URLs: segments and playlists need none, and S3 refuses presigned
// requests that also carry an Authorization header.
//
// Covers need the token too, which an <img src> cannot send: `image` fetches
// them and hands out `blob:` URLs (the CSP's `img-src 'self' blob:`).

const TOKEN_KEY = 'mist.token';
const USER_KEY = 'mist.user';

export class ApiError extends Error {
  constructor(status, code, message, resetsAt, existingTrackId) {
    super(message);
    this.status = status;
    this.code = code;
    this.resetsAt = resetsAt ? new Date(resetsAt) : null;
    /** With `duplicate`: the caller's track made from the same bytes. */
    this.existingTrackId = existingTrackId ?? null;
  }
}

/** Builds an ApiError from a response the server refused. */
export async function errorFrom(response) {
  let detail = null;
  try {
    detail = (await response.json()).error;
  } catch {
    // Not the server's JSON (a proxy's page, a network error): keep the status.
  }
  return new ApiError(
    response.status,
    detail?.code ?? 'http_' + response.status,
    detail?.message ?? `the server answered ${response.status} ${response.statusText}`,
    detail?.resets_at,
    detail?.existing_track_id,
  );
}

/**
 * Whether `url` is one of the API's own routes on this page's server (or on
 * `publicOrigin`, the origin the server writes into key URIs). Only these get
 * the bearer token.
 */
export function isApiUrl(url, publicOrigin) {
  let parsed;
  try {
    parsed = new URL(url, location.href);
  } catch {
    return false;
  }
  const ours = parsed.origin === location.origin || (publicOrigin && parsed.origin === publicOrigin);
  return Boolean(ours) && parsed.pathname.startsWith('/api/v1/');
}

export class Api {
  constructor() {
    // This tab's log-in first, else a remembered one.
    const store = sessionStorage.getItem(TOKEN_KEY) ? sessionStorage : localStorage;
    this.token = store.getItem(TOKEN_KEY);
    this.user = null;
    try {
      this.user = JSON.parse(store.getItem(USER_KEY) ?? 'null');
    } catch {
      this.token = null; // a damaged entry: log in again
    }
    /** Cover paths → promises of blob: URLs (or null when there is no cover). */
    this.images = new Map();
    /** Called when the server says the token is missing, invalid or expired. */
    this.onUnauthorized = () => {};
  }

  get loggedIn() {
    return Boolean(this.token);
  }

  /** Keeps the log-in for this tab, or (`persist`) for every tab until it expires. */
  remember(auth, persist = false) {
    this.forget();
    this.token = auth.token;
    this.user = auth.user;
    const store = persist ? localStorage : sessionStorage;
    store.setItem(TOKEN_KEY, auth.token);
    store.setItem(USER_KEY, JSON.stringify(auth.user));
  }

  forget() {
    this.token = null;
    this.user = null;
    for (const store of [sessionStorage, localStorage]) {
      store.removeItem(TOKEN_KEY);
      store.removeItem(USER_KEY);
    }
    for (const url of this.images.values()) url.then((u) => u && URL.revokeObjectURL(u));
    this.images.clear();
  }

  /**
   * A `blob:` URL of the picture at `path` (one of this server's cover
   * routes), fetched once with the token; null when there is none.
   */
  image(path) {
    if (!isApiUrl(path) || !this.token) return Promise.resolve(null);
    let url = this.images.get(path);
    if (!url) {
      url = fetch(path, { headers: this.authHeader() })
        .then((r) => (r.ok ? r.blob() : null))
        .then((blob) => (blob && blob.type.startsWith('image/') ? URL.createObjectURL(blob) : null))
        .catch(() => null);
      this.images.set(path, url);
    }
    return url;
  }

  authHeader() {
    return this.token ? { Authorization: 'Bearer ' + this.token } : {};
  }

  /** `method path` with an optional JSON body; resolves to the parsed answer (or null for 204). */
  async request(method, path, body, { keepalive = false } = {}) {
    const headers = { Accept: 'application/json', ...this.authHeader() };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      keepalive,
    });
    if (!response.ok) {
      const error = await errorFrom(response);
      if (response.status === 401 && this.token) this.onUnauthorized(error);
      throw error;
    }
    return response.status === 204 ? null : response.json();
  }

  get(path) {
    return this.request('GET', path);
  }

  post(path, body = {}) {
    return this.request('POST', path, body);
  }

  async login(email, password, persist = false) {
    this.remember(await this.request('POST', '/api/v1/auth/login', { email, password }), persist);
  }

  /** `invite`: the code of an invite-only server; empty when there is none. */
  async register(email, username, password, invite, persist = false) {
    const body = { email, username, password };
    if (invite) body.invite = invite;
    this.remember(await this.request('POST', '/api/v1/auth/register', body), persist);
  }

  searchTracks({ q, genre, cursor }) {
    const params = new URLSearchParams();
    if (q) params.set('q', q);
    if (genre) params.set('genre', genre);
    if (cursor) params.set('cursor', cursor);
    params.set('limit', '30');
    return this.get('/api/v1/tracks?' + params);
  }

  /**
   * Sends `file` to the ticket's URL with progress: XMLHttpRequest, because
   * fetch reports no upload progress. The bearer token goes only to the
   * server's own upload route, never to a presigned bucket URL.
   */
  putUpload(ticket, file, onProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open(ticket.method || 'PUT', ticket.url);
      for (const [name, value] of Object.entries(ticket.headers || {})) {
        // The browser sets Content-Length itself and refuses to be told.
        if (name.toLowerCase() !== 'content-length') xhr.setRequestHeader(name, value);
      }
      if (isApiUrl(ticket.url) && this.token) xhr.setRequestHeader('Authorization', 'Bearer ' + this.token);
      xhr.upload.onprogress = (e) => {
        if (e.lengthComputable) onProgress(e.loaded / e.total);
      };
      xhr.onload = () => {
        if (xhr.status >= 200 && xhr.status < 300) {
          resolve();
        } else {
          errorFrom(new Response(xhr.responseText, { status: xhr.status, statusText: xhr.statusText })).then(reject);
        }
      };
      xhr.onerror = () => reject(new ApiError(0, 'network', 'the upload failed: network error'));
      xhr.send(file);
    });
  }
}
