import { randomBytes, timingSafeEqual } from 'node:crypto'
import { chmod, readFile, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { writeFileAtomic } from '../fs-util.js'

/**
 * The node's API token: for user management over the API (on loopback any local process could
 * otherwise add a reviewer), and for every request when the API is bound beyond loopback
 * (node/api/access.ts). It is in the data dir, mode 0600, so only who can read the node's data
 * (its user, root) can use it. It is kept across restarts, so a remote client or a Prometheus
 * server holding a copy keeps working; removing the file and restarting makes a new one.
 */
export const API_TOKEN_FILE = 'api.token'

const TOKEN_FORM = /^[A-Za-z0-9_-]{32,128}$/

/** The token in the data dir, or a new one written there (0600) when there is none or it is not one. */
export async function ensureApiToken (dataDir: string): Promise<string> {
  const current = await readApiToken(dataDir)
  if (current != null && TOKEN_FORM.test(current)) {
    // a copy restored from a backup may have lost its mode: the file is the credential
    await chmod(join(dataDir, API_TOKEN_FILE), 0o600)
    return current
  }
  return await writeApiToken(dataDir)
}

/** A new token, written to the data dir (0600). */
export async function writeApiToken (dataDir: string): Promise<string> {
  const token = randomBytes(32).toString('base64url')
  await writeFileAtomic(join(dataDir, API_TOKEN_FILE), token + '\n', 0o600)
  return token
}

export async function removeApiToken (dataDir: string): Promise<void> {
  await unlink(join(dataDir, API_TOKEN_FILE)).catch(() => {})
}

/** The token of the node running on `dataDir`, or undefined when there is none (or it cannot be read). */
export async function readApiToken (dataDir: string): Promise<string | undefined> {
  try {
    const t = (await readFile(join(dataDir, API_TOKEN_FILE), 'utf8')).trim()
    return t === '' ? undefined : t
  } catch {
    return undefined
  }
}

/** `Authorization: Bearer <token>`, compared in constant time. */
export function bearerMatches (header: unknown, token: string): boolean {
  if (typeof header !== 'string') return false
  const m = /^Bearer ([A-Za-z0-9_-]{1,128})$/.exec(header)
  if (m == null) return false
  const a = Buffer.from(m[1])
  const b = Buffer.from(token)
  return a.length === b.length && timingSafeEqual(a, b)
}
