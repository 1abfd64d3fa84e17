import { readFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { AasError, UsageError } from '../../protocol/errors.js'
import { DEFAULT_API_PORT } from '../config/ports.js'
import type { RuntimeInfo } from '../node.js'

/** Mirrors node.ts RUNTIME_FILE without loading the daemon. */
export const RUNTIME_FILE = 'node.json'

/**
 * How CLI commands reach a node's HTTP API. The URL comes from `--api`, else `AAS_API`,
 * else the runtime file of the node running on the data dir (`--data`, `AAS_DATA`,
 * `~/.aas`), else the default loopback address.
 *
 * A node whose API is bound beyond loopback asks every request for its token (node/api/access.ts):
 * the file `api.token` in its data dir. The CLI sends it (`Authorization: Bearer`) from the file
 * `AAS_API_TOKEN_FILE` names, else from the data dir of the node it talks to: the one found
 * through the data dir, or the `--data DIR` given with `--api URL`. A token is never sent to a
 * URL named by `--api`/`AAS_API` alone: a local node's token does not go to another host.
 */
export const API_TOKEN_FILE_ENV = 'AAS_API_TOKEN_FILE'
export class ApiError extends AasError {
  readonly status: number | undefined
  constructor (message: string, code: 'ERR_API_UNREACHABLE' | 'ERR_API_STATUS' | 'ERR_API_RESPONSE', status?: number) {
    super(message, code)
    this.name = 'ApiError'
    this.status = status
  }
}

export interface ApiTarget {
  api?: string
  data?: string
  /** A config file (`--config`); else `AAS_CONFIG`. */
  config?: string
}

/**
 * The one client-side way to name a node, for `--api` and `AAS_API` alike: a URL
 * (`http://127.0.0.1:7401`, `https://aas.example/` behind a proxy) or `HOST:PORT`
 * (`127.0.0.1:7401`, `[::1]:7401`), which means `http://HOST:PORT`.
 */
export function apiUrl (value: string, from = '--api'): string {
  const bad = (): never => { throw new UsageError(`${from}: "${value}" is not a URL or HOST:PORT (e.g. http://127.0.0.1:${DEFAULT_API_PORT} or 127.0.0.1:${DEFAULT_API_PORT})`) }
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(value)?.[1]?.toLowerCase()
  if (scheme != null && scheme !== 'http' && scheme !== 'https') bad()
  // without a scheme it must be HOST:PORT: "notaurl" is a mistake, not http://notaurl:80
  if (scheme == null && !/^(\[[0-9a-f:.]+\]|[^\s:/[\]@]+):\d{1,5}$/i.test(value)) bad()
  let url: URL
  try {
    url = new URL(scheme != null ? value : `http://${value}`)
  } catch {
    return bad()
  }
  if (url.hostname === '' || url.username !== '' || url.search !== '' || url.hash !== '') bad()
  return url.toString().replace(/\/$/, '')
}

/**
 * The settings a client command reads (`--config FILE` or `AAS_CONFIG`, then `AAS_*`), checked
 * as a node would check them. `AAS_API` is left out: for a client it names the node to talk to
 * (a URL or HOST:PORT), not the address a node listens on.
 */
export async function clientConfig (target: Pick<ApiTarget, 'config' | 'data'>, env: NodeJS.ProcessEnv = process.env): Promise<import('../config/index.js').NodeConfig> {
  const { resolveConfig } = await import('../config/index.js')
  const { AAS_API: _api, ...rest } = env
  const file = target.config ?? (env.AAS_CONFIG !== '' ? env.AAS_CONFIG : undefined)
  return await resolveConfig({ file, env: rest, flags: target.data != null ? { dataDir: target.data } : {} })
}

/**
 * A client finds its node at `--api`, else `AAS_API`, else where the node running on the
 * data dir (`--data`, `AAS_DATA`, the config's `dataDir`, `~/.aas`) said its API is, else at
 * the config's `api` (default `127.0.0.1:7401`). It also finds the token to send there (above).
 */
export async function resolveApiUrl (target: ApiTarget, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const { url, dataDir } = await locateApi(target, env)
  const token = await apiTokenFor(dataDir, env)
  if (token != null) tokens.set(url, token)
  return url
}

/** The URL, and the data dir whose token belongs to it (none for a bare `--api`/`AAS_API`). */
async function locateApi (target: ApiTarget, env: NodeJS.ProcessEnv): Promise<{ url: string, dataDir?: string }> {
  const explicit = target.data != null ? resolve(target.data) : undefined
  if (target.api != null) return { url: apiUrl(target.api, '--api'), dataDir: explicit }
  if (env.AAS_API != null && env.AAS_API !== '') return { url: apiUrl(env.AAS_API, 'AAS_API'), dataDir: explicit }
  const config = await clientConfig(target, env)
  try {
    const runtime = JSON.parse(await readFile(join(config.dataDir, RUNTIME_FILE), 'utf8')) as RuntimeInfo
    if (typeof runtime.api === 'string') return { url: apiUrl(runtime.api, join(config.dataDir, RUNTIME_FILE)), dataDir: config.dataDir }
  } catch (err) {
    if (err instanceof UsageError) throw err
    /* no node running there: the configured address */
  }
  return { url: apiUrl(config.api, 'api'), dataDir: config.dataDir }
}

/** Node URL → the token this process sends it, as `resolveApiUrl` found it (one command, one node). */
const tokens = new Map<string, string>()

async function apiTokenFor (dataDir: string | undefined, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  // the module itself, not auth/index.js: a client command must not load the node's user store
  const { API_TOKEN_FILE, readApiToken } = await import('../auth/api-token.js')
  const file = env[API_TOKEN_FILE_ENV]
  if (file != null && file !== '') {
    let text: string
    try {
      text = (await readFile(file, 'utf8')).trim()
    } catch (err: any) {
      throw new UsageError(`${API_TOKEN_FILE_ENV}: cannot read ${file} (${String(err?.code ?? err?.message)}): name a copy of the node's ${API_TOKEN_FILE} file`)
    }
    if (!/^[A-Za-z0-9_-]{1,128}$/.test(text)) throw new UsageError(`${API_TOKEN_FILE_ENV}: ${file} does not hold an API token (a copy of the node's ${API_TOKEN_FILE} file)`)
    return text
  }
  return dataDir != null ? await readApiToken(dataDir) : undefined
}

interface ApiRequestInit { method?: string, body?: unknown }

/** Sends a request; a node that does not answer is one clear error. */
async function send (base: string, path: string, init: ApiRequestInit, signal: AbortSignal | undefined): Promise<Response> {
  const headers: Record<string, string> = init.body !== undefined ? { 'content-type': 'application/json' } : {}
  const token = tokens.get(base)
  if (token != null) headers.authorization = `Bearer ${token}`
  try {
    return await fetch(`${base}${path}`, {
      method: init.method ?? 'GET',
      headers,
      body: init.body !== undefined ? JSON.stringify(init.body) : undefined,
      signal
    })
  } catch (err: any) {
    const why = err?.cause?.code ?? err?.name ?? err?.message
    throw new ApiError(`no AAS node answers at ${base} (${String(why)}): is it running? Start one with "aas node start", or point at one with --api URL`, 'ERR_API_UNREACHABLE')
  }
}

/** The error of an answer that is not 2xx: an AAS error as the node said it, anything else with the URL. */
function statusError (base: string, path: string, status: number, body: any): ApiError {
  if (typeof body?.code === 'string' && typeof body?.message === 'string') return new ApiError(body.message, 'ERR_API_STATUS', status)
  const msg = typeof body?.message === 'string' ? body.message : `HTTP ${status}`
  return new ApiError(`${base}${path}: ${msg}`, 'ERR_API_STATUS', status)
}

export async function apiRequest<T> (base: string, path: string, init: ApiRequestInit & { timeoutMs?: number } = {}): Promise<T> {
  const res = await send(base, path, init, AbortSignal.timeout(init.timeoutMs ?? 10_000))
  const text = await res.text()
  let body: any
  try { body = text === '' ? undefined : JSON.parse(text) } catch { body = undefined }
  if (!res.ok) throw statusError(base, path, res.status, body)
  if (body === undefined) throw new ApiError(`${base}${path}: the answer is not JSON`, 'ERR_API_RESPONSE')
  return body as T
}

/**
 * A streaming answer (NDJSON: one JSON value a line), yielded line by line as the node writes
 * them; ends when the node ends the answer or `signal` aborts.
 */
export async function * apiLines (base: string, path: string, init: ApiRequestInit & { signal?: AbortSignal } = {}): AsyncGenerator<any> {
  const res = await send(base, path, init, init.signal)
  if (!res.ok || res.body == null) throw statusError(base, path, res.status, await res.json().catch(() => undefined))
  const decoder = new TextDecoder()
  let buffered = ''
  for await (const chunk of res.body) {
    buffered += decoder.decode(chunk as Uint8Array, { stream: true })
    let nl: number
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl)
      buffered = buffered.slice(nl + 1)
      if (line.trim() === '') continue
      let value: unknown
      try { value = JSON.parse(line) } catch { throw new ApiError(`${base}${path}: a line of the answer is not JSON`, 'ERR_API_RESPONSE') }
      yield value
    }
  }
}
