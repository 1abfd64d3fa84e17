import { link, readFile, stat, unlink, writeFile } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { basename, dirname, join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { AasError } from '../protocol/errors.js'
import { publicKeyText } from '../protocol/keys.js'

/**
 * Skill authors' ed25519 keys. A key file is JSON `{type, publicKey, privateKey}` (the
 * private key as base64 of libp2p's protobuf encoding), mode 0600, never overwritten: losing
 * an author key by accident means no more releases under that name's trust.
 */
export const AUTHOR_KEY_TYPE = 'aas-author-key/1'

export class KeyFileError extends AasError {
  constructor (message: string, code: 'ERR_KEY_EXISTS' | 'ERR_KEY_READ' | 'ERR_KEY_INVALID' | 'ERR_KEY_MODE') {
    super(message, code)
    this.name = 'KeyFileError'
  }
}

export interface AuthorKey {
  privateKey: PrivateKey
  /** Text form (z6Mk…). */
  publicKey: string
}

/** Makes a new key in `file` (mode 0600); refuses when the file exists. Atomic: no half key is ever visible. */
export async function createAuthorKey (file: string): Promise<AuthorKey> {
  const privateKey = await generateKeyPair('Ed25519')
  const publicKey = publicKeyText(privateKey.publicKey.raw)
  const text = JSON.stringify({ type: AUTHOR_KEY_TYPE, publicKey, privateKey: Buffer.from(privateKeyToProtobuf(privateKey)).toString('base64') }, null, 2) + '\n'
  const tmp = join(dirname(file), `.${basename(file)}.${randomBytes(6).toString('hex')}.tmp`)
  try {
    await writeFile(tmp, text, { mode: 0o600, flag: 'wx' })
    // link() fails with EEXIST instead of replacing: never overwrite a key
    await link(tmp, file)
  } catch (err: any) {
    if (err.code === 'EEXIST') throw new KeyFileError(`${file} already exists: an author key is never overwritten; choose another --out`, 'ERR_KEY_EXISTS')
    throw new KeyFileError(`cannot write ${file}: ${err.code ?? err.message}`, 'ERR_KEY_READ')
  } finally {
    await unlink(tmp).catch(() => {})
  }
  return { privateKey, publicKey }
}

export async function loadAuthorKey (file: string): Promise<AuthorKey> {
  let text: string
  try {
    const st = await stat(file)
    if ((st.mode & 0o077) !== 0) throw new KeyFileError(`author key ${file} is accessible by other users (mode ${(st.mode & 0o777).toString(8)}): run chmod 600 ${file}`, 'ERR_KEY_MODE')
    text = await readFile(file, 'utf8')
  } catch (err: any) {
    if (err instanceof KeyFileError) throw err
    throw new KeyFileError(`cannot read author key ${file}: ${err.code ?? err.message}`, 'ERR_KEY_READ')
  }
  try {
    const doc = JSON.parse(text)
    if (doc?.type !== AUTHOR_KEY_TYPE) throw new Error(`type is not ${AUTHOR_KEY_TYPE}`)
    const privateKey = privateKeyFromProtobuf(Buffer.from(String(doc.privateKey), 'base64'))
    if (privateKey.type !== 'Ed25519') throw new Error(`a ${privateKey.type} key`)
    const publicKey = publicKeyText(privateKey.publicKey.raw)
    if (doc.publicKey !== publicKey) throw new Error('its publicKey does not match its private key')
    return { privateKey, publicKey }
  } catch (err: any) {
    throw new KeyFileError(`${file} is not an AAS author key (${err.message}); make one with "aas keys new --out FILE"`, 'ERR_KEY_INVALID')
  }
}
