import { randomBytes, timingSafeEqual } from 'node:crypto'
import { readFile, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { writeFileAtomic } from '../fs-util.js'

/**
 * The node's admin token for user management over the API. The API is unauthenticated on
 * loopback, so any local process could otherwise add a reviewer; the token is in the data dir,
 * mode 0600, so only who can read the node's data (its user, root) can manage its people. A
 * new one at every start; removed at stop.
 */
export const API_TOKEN_FILE = 'api.token'

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
