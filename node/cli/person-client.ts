import { mkdir, readFile, unlink } from 'node:fs/promises'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import { writeFileAtomic } from '../fs-util.js'
import { ApiError } from './api-client.js'

/**
 * A person's side of the API from a terminal: `aas login` keeps the session it gets (cookie and
 * CSRF token) per API URL in `~/.config/aas/session.json` (mode 0600), and `personRequest` sends
 * them with every request, as a browser would — what `aas review …` uses.
 */
export const SESSION_COOKIE = 'aas_session'
export const CSRF_HEADER = 'x-csrf-token'

export interface StoredSession { user: string, cookie: string, csrf: string, expiresAt: string }

export function sessionFile (env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'aas', 'session.json')
}

async function readAll (file: string): Promise<Record<string, StoredSession>> {
  try {
    const v = JSON.parse(await readFile(file, 'utf8'))
    return v != null && typeof v === 'object' && !Array.isArray(v) ? v : {}
  } catch {
    return {}
  }
}

export async function loadSession (api: string, env: NodeJS.ProcessEnv = process.env): Promise<StoredSession | undefined> {
  const s = (await readAll(sessionFile(env)))[api]
  return s != null && typeof s.cookie === 'string' && typeof s.csrf === 'string' ? s : undefined
}

/** Keeps (or, with undefined, forgets) the session for `api`; the file is 0600, its folder 0700. */
export async function storeSession (api: string, session: StoredSession | undefined, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const file = sessionFile(env)
  const all = await readAll(file)
  if (session == null) delete all[api]
  else all[api] = session
  if (Object.keys(all).length === 0) { await unlink(file).catch(() => {}); return }
  await mkdir(dirname(file), { recursive: true, mode: 0o700 })
  await writeFileAtomic(file, JSON.stringify(all, null, 2) + '\n', 0o600)
}

/** The `aas_session` value of a response's Set-Cookie headers. */
export function sessionCookieOf (res: Response): string | undefined {
  for (const line of res.headers.getSetCookie()) {
    const m = new RegExp(`^${SESSION_COOKIE}=([^;]*)`).exec(line)
    if (m != null && m[1] !== '') return m[1]
  }
  return undefined
}

export interface PersonRequestInit { method?: string, body?: unknown, timeoutMs?: number, env?: NodeJS.ProcessEnv }

/**
 * A request as the person logged in to `api` (`aas login`): the session cookie always, the
 * CSRF token on anything but GET/HEAD. Not logged in, or the session ended → an ApiError
 * saying to log in; any other non-2xx → the node's `{code, message}` as an ApiError.
 */
export async function personRequest<T> (api: string, path: string, init: PersonRequestInit = {}): Promise<T> {
  const s = await loadSession(api, init.env)
  if (s == null) throw new ApiError(`not logged in to ${api}: run "aas login --api ${api} --user NAME"`, 'ERR_API_STATUS', 401)
  const method = init.method ?? 'GET'
  const headers: Record<string, string> = { cookie: `${SESSION_COOKIE}=${s.cookie}` }
  if (method !== 'GET' && method !== 'HEAD') headers[CSRF_HEADER] = s.csrf
  if (init.body !== undefined) headers['content-type'] = 'application/json'
  let res: Response
  try {
    res = await fetch(`${api}${path}`, { method, headers, body: init.body !== undefined ? JSON.stringify(init.body) : undefined, signal: AbortSignal.timeout(init.timeoutMs ?? 10_000) })
  } catch (err: any) {
    throw new ApiError(`no AAS node answers at ${api} (${String(err?.cause?.code ?? err?.name)}): is it running?`, 'ERR_API_UNREACHABLE')
  }
  const body: any = await res.json().catch(() => undefined)
  if (res.status === 401 && body?.code === 'ERR_NO_SESSION') {
    await storeSession(api, undefined, init.env)
    throw new ApiError(`your session on ${api} has ended: run "aas login --api ${api} --user ${s.user}"`, 'ERR_API_STATUS', 401)
  }
  if (!res.ok) throw new ApiError(typeof body?.message === 'string' ? body.message : `${api}${path}: HTTP ${res.status}`, 'ERR_API_STATUS', res.status)
  if (body === undefined) throw new ApiError(`${api}${path}: the answer is not JSON`, 'ERR_API_RESPONSE')
  return body as T
}
