import { access, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { privateKeyFromProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { decodeCanonical, UsageError, type AuditCheckpoint } from '../../protocol/index.js'
import { AuditError, AuditErrorCode, CHECKPOINT_KEY, iterateEntries } from '../audit/index.js'
import type { AuditPage } from '../api/index.js'
import { IDENTITY_FILE } from '../identity.js'
import { Bucket, NodeStore, type Db } from '../store/index.js'
import { ApiError, apiLines, apiRequest, clientConfig, resolveApiUrl, RUNTIME_FILE } from './api-client.js'

/**
 * Where `aas audit` reads a node's log: the LevelDB of a stopped node's data dir, opened
 * directly, or — when the node runs and holds the database's lock — the node's HTTP API. Both
 * hand on the stored values as they are, so the same verifier judges either.
 */
export interface AuditSource {
  /** For messages and `--json`: `{data: DIR}` or `{api: URL}`. */
  where: { data: string } | { api: string }
  /** The node the log must belong to (the data dir's identity, the running node's peer id), if known. */
  node: string | undefined
  /** Every stored value from `from` on, in key order. */
  entries: (from: number) => AsyncIterable<unknown>
  /** The last `n` stored values, oldest first. */
  last: (n: number) => Promise<unknown[]>
  /** The latest checkpoint the node keeps, if any. */
  latestCheckpoint: () => Promise<AuditCheckpoint | undefined>
  /** A running node signs one now; a stopped node's data dir cannot. */
  signCheckpoint?: () => Promise<AuditCheckpoint>
  /** Entries from `from` on, then each new one as the node writes it (running node only). */
  follow?: (from: number) => AsyncIterable<unknown>
  close: () => Promise<void>
}

export interface AuditTarget { api?: string, data?: string, config?: string }

/**
 * `--api` → that node; `--data` → that data dir (its node's API if the node runs); else
 * `AAS_API`; else `AAS_DATA`, the `dataDir` of `AAS_CONFIG`'s file, or `~/.aas` as for `--data`.
 */
export async function openAuditSource (target: AuditTarget, env: NodeJS.ProcessEnv = process.env): Promise<AuditSource> {
  if (target.api != null || (target.data == null && env.AAS_API != null && env.AAS_API !== '')) return await apiSource(await resolveApiUrl(target, env))
  const dir = (await clientConfig(target, env)).dataDir
  try {
    await access(join(dir, 'db', 'CURRENT'))
  } catch {
    throw new UsageError(`${dir} holds no AAS node database: give the node's data dir with --data DIR (or a file with --file)`)
  }
  const store = new NodeStore(dir)
  try {
    await store.open()
  } catch (err: any) {
    if (err?.code !== 'ERR_DATA_DIR_LOCKED') throw err
    // the node runs: ask it, at the address it wrote once its API was up
    try {
      await access(join(dir, RUNTIME_FILE))
    } catch {
      throw new AuditError(`a node holds ${dir} but has not said where its API is (${RUNTIME_FILE}): it may be starting; try again, or give --api URL`, AuditErrorCode.UNREADABLE)
    }
    return await apiSource(await resolveApiUrl({ data: dir }, {}))
  }
  try {
    return dataSource(dir, store, await identityOf(dir))
  } catch (err) {
    await store.close()
    throw err
  }
}

/** The peer id of a data dir's identity key; undefined when the dir has none (a copy without the key). */
async function identityOf (dir: string): Promise<string | undefined> {
  const path = join(dir, IDENTITY_FILE)
  let bytes: Uint8Array
  try {
    bytes = await readFile(path)
  } catch (err: any) {
    if (err.code === 'ENOENT') return undefined
    throw new AuditError(`cannot read ${path}: ${String(err.code ?? err.message)}`, AuditErrorCode.UNREADABLE, { cause: err })
  }
  try {
    return peerIdFromPrivateKey(privateKeyFromProtobuf(bytes)).toString()
  } catch (err) {
    throw new AuditError(`${path} is not a node identity key`, AuditErrorCode.UNREADABLE, { cause: err })
  }
}

function dataSource (dir: string, store: NodeStore, node: string | undefined): AuditSource {
  const db: Db = store.sublevel(Bucket.audit)
  return {
    where: { data: dir },
    node,
    entries: (from) => iterateEntries(db, from),
    last: async (n) => {
      const out: unknown[] = []
      for await (const value of db.values({ gte: 'e!', lt: 'e!\xff', reverse: true, limit: n })) {
        try { out.unshift(decodeCanonical(value)) } catch { out.unshift({ undecodable: true }) }
      }
      return out
    },
    latestCheckpoint: async () => {
      const bytes = await db.get(CHECKPOINT_KEY)
      return bytes == null ? undefined : decodeCanonical(bytes) as AuditCheckpoint
    },
    close: async () => { await store.close() }
  }
}

async function apiSource (url: string): Promise<AuditSource> {
  const { peerId } = await apiRequest<{ peerId: string }>(url, '/v1/node')
  // the node cuts a page to its most and says where the next one starts
  const page = async (from: number, limit = 1000): Promise<AuditPage> => await apiRequest<AuditPage>(url, `/v1/audit?from=${from}&limit=${limit}`)
  const abort = new AbortController()
  return {
    where: { api: url },
    node: peerId,
    entries: async function * (from) {
      for (let next: number | null = from; next != null;) {
        const p = await page(next)
        yield * p.entries
        next = p.next
      }
    },
    last: async (n) => {
      const { headSeq } = await page(1, 1)
      return (await page(Math.max(1, headSeq - n + 1), n)).entries
    },
    latestCheckpoint: async () => await apiRequest<AuditCheckpoint>(url, '/v1/audit/checkpoint').catch((err) => {
      if (err instanceof ApiError && err.status === 404) return undefined
      throw err
    }),
    signCheckpoint: async () => await apiRequest<AuditCheckpoint>(url, '/v1/audit/checkpoint', { method: 'POST', body: {} }),
    follow: (from) => apiLines(url, `/v1/audit/follow?from=${from}`, { signal: abort.signal }),
    close: async () => { abort.abort() }
  }
}
