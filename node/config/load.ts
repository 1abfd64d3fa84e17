import { readFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { resolve } from 'node:path'
import type { ErrorObject } from 'ajv'
import type { NodeConfig } from './schema.js'
import { defaultNodeConfig } from './defaults.js'
import { configValidator } from './validate.js'
import { ConfigError } from './errors.js'

/**
 * Resolves the configuration: defaults, then the config file, then `AAS_*` environment
 * variables, then command-line flags (later wins), then validates the result as a whole.
 * Every error names the field and where the value came from.
 */
type DeepPartial<T> = T extends unknown[] ? T : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T
export type PartialConfig = DeepPartial<NodeConfig>

export interface ResolveConfigInit {
  /** Path of a JSON config file. */
  file?: string
  env?: NodeJS.ProcessEnv
  flags?: PartialConfig
}

/** Environment variables and the field each sets; list values are comma-separated. */
export const ENV_VARS: Record<string, { key: keyof NodeConfig | 'trust.authors' | 'team.descriptor' | 'team.certificate', list?: boolean }> = {
  AAS_DATA: { key: 'dataDir' },
  AAS_LISTEN: { key: 'listen', list: true },
  AAS_BOOTSTRAP: { key: 'bootstrap', list: true },
  AAS_API: { key: 'api' },
  AAS_LOG_LEVEL: { key: 'logLevel' },
  AAS_TRUST_AUTHORS: { key: 'trust.authors', list: true },
  AAS_TEAM: { key: 'team.descriptor' },
  AAS_CERT: { key: 'team.certificate' }
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => v != null && typeof v === 'object' && !Array.isArray(v)

/** Deep merge of plain objects (a file may set `sandbox.max.memoryMB` alone); arrays and scalars replace. */
function merge<T> (base: T, over: unknown): T {
  if (!isPlainObject(over) || !isPlainObject(base)) return (over === undefined ? base : over) as T
  const out: Record<string, unknown> = { ...base }
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue
    out[k] = merge(out[k], v)
  }
  return out as T
}

export async function readConfigFile (file: string): Promise<PartialConfig> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err: any) {
    throw new ConfigError(`cannot read config file ${file}: ${err.code ?? err.message}`, 'ERR_CONFIG_FILE')
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err: any) {
    throw new ConfigError(`config file ${file} is not valid JSON: ${err.message}`, 'ERR_CONFIG_FILE')
  }
  if (value == null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigError(`config file ${file} must hold a JSON object`, 'ERR_CONFIG_FILE')
  }
  return value as PartialConfig
}

export function configFromEnv (env: NodeJS.ProcessEnv): PartialConfig {
  const out: Record<string, unknown> = {}
  for (const [name, { key, list }] of Object.entries(ENV_VARS)) {
    const raw = env[name]
    if (raw === undefined || raw === '') continue
    const value = list === true ? raw.split(',').map(s => s.trim()).filter(s => s.length > 0) : raw
    // a dotted key sets a nested field
    const [head, sub] = key.split('.')
    if (sub != null) out[head] = { ...(out[head] as object), [sub]: value }
    else out[head] = value
  }
  return out as PartialConfig
}

function expandHome (path: string): string {
  return path === '~' || path.startsWith('~/') ? homedir() + path.slice(1) : path
}

/**
 * Parses the address a node's API listens on: `HOST:PORT` (IPv6 as `[::1]:7401`), or the
 * same written as the URL clients use, `http://HOST:PORT` (so one `AAS_API` serves a node and
 * its clients). A URL with a path, a query or another scheme names no listen address.
 */
export function parseHostPort (value: string, field = 'api'): { host: string, port: number } {
  const m = /^(?:http:\/\/)?(?:\[([^\]]+)\]|([^:[\]/]+)):(\d{1,5})\/?$/.exec(value)
  const port = m == null ? NaN : Number(m[3])
  if (m == null || port > 65535) throw new ConfigError(`${field}: "${value}" is not HOST:PORT (e.g. 127.0.0.1:7401) or http://HOST:PORT`)
  return { host: m[1] ?? m[2], port }
}

/** `HOST:PORT` of a parsed listen address. */
function hostPort ({ host, port }: { host: string, port: number }): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}

/** One line for ajv's first error: the field and what is wrong, with the allowed values of a choice. */
function describeError (errors: ErrorObject[]): string {
  const e = errors[0]
  const field = (e?.instancePath ?? '').replace(/^\//, '').replaceAll('/', '.') || 'config'
  if (e?.keyword === 'additionalProperties') return `${field}: unknown setting "${String(e.params.additionalProperty)}"`
  // a choice (a union of constants) fails as one `const` error per branch, then `anyOf`
  const allowed = errors.filter(x => x.instancePath === e?.instancePath && x.keyword === 'const').map(x => JSON.stringify(x.params.allowedValue))
  if (allowed.length > 0 || e?.keyword === 'anyOf') return `${field}: must be one of ${allowed.length > 0 ? allowed.join(', ') : 'the allowed values'}`
  return `${field}: ${e?.message ?? 'is invalid'}`
}

/** Every address must parse; the multiaddr library (~45 ms to load) only when there is one to check. */
async function checkMultiaddrs (field: string, values: string[], known: string[]): Promise<void> {
  const check = values.filter(v => !known.includes(v)) // the defaults parse (a test says so)
  if (check.length === 0) return
  const { multiaddr } = await import('@multiformats/multiaddr')
  for (const v of check) {
    try {
      multiaddr(v)
    } catch {
      throw new ConfigError(`${field}: "${v}" is not a multiaddr (e.g. /ip4/127.0.0.1/tcp/7400)`)
    }
  }
}

export async function resolveConfig (init: ResolveConfigInit = {}): Promise<NodeConfig> {
  const defaults = defaultNodeConfig()
  let config = defaults
  if (init.file != null) config = merge(config, await readConfigFile(init.file))
  config = merge(config, configFromEnv(init.env ?? {}))
  config = merge(config, init.flags)

  const validateConfig = await configValidator()
  if (!validateConfig(config)) throw new ConfigError(describeError(validateConfig.errors ?? []))
  await checkMultiaddrs('listen', config.listen, defaults.listen)
  await checkMultiaddrs('bootstrap', config.bootstrap, defaults.bootstrap)
  return { ...config, api: hostPort(parseHostPort(config.api)), dataDir: resolve(expandHome(config.dataDir)) }
}
