import { readFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { AasError, UsageError } from '../../protocol/errors.js'
import { DEFAULT_API_PORT } from '../config/defaults.js'
import type { RuntimeInfo } from '../node.js'

/** Mirrors node.ts RUNTIME_FILE without loading the daemon. */
export const RUNTIME_FILE = 'node.json'

/**
 * How CLI commands reach a node's HTTP API. The URL comes from `--api`, else `AAS_API`,
 * else the runtime file of the node running on the data dir (`--data`, `AAS_DATA`,
 * `~/.aas`), else the default loopback address.
 */
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
}

function normalise (value: string): string {
  const url = /^https?:\/\//.test(value) ? value : `http://${value}`
  try {
    return new URL(url).toString().replace(/\/$/, '')
  } catch {
    throw new UsageError(`--api: "${value}" is not a URL or HOST:PORT (e.g. http://127.0.0.1:${DEFAULT_API_PORT})`)
  }
}

export async function resolveApiUrl (target: ApiTarget, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  if (target.api != null) return normalise(target.api)
  if (env.AAS_API != null && env.AAS_API !== '') return normalise(env.AAS_API)
  const dataDir = resolve(target.data ?? env.AAS_DATA ?? join(homedir(), '.aas'))
  try {
    const runtime = JSON.parse(await readFile(join(dataDir, RUNTIME_FILE), 'utf8')) as RuntimeInfo
    if (typeof runtime.api === 'string') return normalise(runtime.api)
  } catch { /* no node running there: fall back to the default */ }
  return `http://127.0.0.1:${DEFAULT_API_PORT}`
}

interface ApiRequestInit { method?: string, body?: unknown }

/** Sends a request; a node that does not answer is one clear error. */
async function send (base: string, path: string, init: ApiRequestInit, signal: AbortSignal | undefined): Promise<Response> {
  try {
    return await fetch(`${base}${path}`, {
      method: init.method ?? 'GET',
      headers: init.body !== undefined ? { 'content-type': 'application/json' } : {},
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
