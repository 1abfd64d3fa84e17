import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto'

/**
 * Password hashes: scrypt from `node:crypto` (no native add-on, no hand-written KDF). The
 * parameters are stored with the hash — `scrypt$<log2 N>$<r>$<p>$<salt b64>$<key b64>` — so a
 * later release can raise the cost and still verify old hashes; `verifyPassword` reads them
 * from the stored string, never from the current defaults.
 */
export interface ScryptParams {
  /** log2 of the CPU/memory cost N. */
  logN: number
  r: number
  p: number
}

/** N = 2^17, r = 8, p = 1: OWASP's scrypt minimum for passwords (128 MiB, a few hundred ms). */
export const defaultScryptParams: ScryptParams = { logN: 17, r: 8, p: 1 }

export const SALT_BYTES = 16
export const KEY_BYTES = 32
/** Passwords shorter than this are refused when set. */
export const MIN_PASSWORD_CHARS = 12

/** Bounds on stored parameters: a corrupt or hostile record cannot ask for unbounded work. */
const MAX_LOG_N = 22
const MAX_R = 32
const MAX_P = 16

function scrypt (password: string, salt: Buffer, { logN, r, p }: ScryptParams): Promise<Buffer> {
  const N = 2 ** logN
  // scrypt needs 128·N·r bytes; Node's default maxmem (32 MiB) refuses N = 2^17, r = 8
  const options: ScryptOptions = { N, r, p, maxmem: 128 * N * r * p + 32 * 1024 * 1024 }
  return new Promise((resolve, reject) => {
    scryptCb(password.normalize('NFC'), salt, KEY_BYTES, options, (err, key) => { if (err != null) reject(err); else resolve(key) })
  })
}

export async function hashPassword (password: string, params: ScryptParams = defaultScryptParams): Promise<string> {
  const salt = randomBytes(SALT_BYTES)
  const key = await scrypt(password, salt, params)
  return `scrypt$${params.logN}$${params.r}$${params.p}$${salt.toString('base64')}$${key.toString('base64')}`
}

/** The parameters of a stored hash, or undefined if it is not one this code wrote. */
export function parseHash (stored: string): { params: ScryptParams, salt: Buffer, key: Buffer } | undefined {
  const m = /^scrypt\$(\d{1,2})\$(\d{1,2})\$(\d{1,2})\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})$/.exec(stored)
  if (m == null) return undefined
  const params = { logN: Number(m[1]), r: Number(m[2]), p: Number(m[3]) }
  if (params.logN < 1 || params.logN > MAX_LOG_N || params.r < 1 || params.r > MAX_R || params.p < 1 || params.p > MAX_P) return undefined
  const salt = Buffer.from(m[4], 'base64')
  const key = Buffer.from(m[5], 'base64')
  if (salt.length < 8 || key.length < 16) return undefined
  return { params, salt, key }
}

/** True when `password` hashes to `stored`; a malformed stored hash never verifies. Constant-time compare. */
export async function verifyPassword (password: string, stored: string): Promise<boolean> {
  const parsed = parseHash(stored)
  if (parsed == null) return false
  const key = await scrypt(password, parsed.salt, parsed.params)
  return key.length === parsed.key.length && timingSafeEqual(key, parsed.key)
}
