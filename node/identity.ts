import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { IdentityError } from './errors.js'
import { writeFileAtomic } from './fs-util.js'

/**
 * The node's ed25519 identity (its libp2p peer id), kept in the data dir as a
 * protobuf-encoded private key with mode 0600. Created on first start and reused after,
 * so a node keeps its peer id across restarts. Like ssh, a key file that others can read
 * is refused rather than silently used.
 */
export const IDENTITY_FILE = 'identity.key'

export async function loadOrCreateIdentity (dataDir: string): Promise<PrivateKey> {
  const path = join(dataDir, IDENTITY_FILE)
  let bytes: Uint8Array
  try {
    const s = await stat(path)
    if ((s.mode & 0o077) !== 0) {
      throw new IdentityError(`identity file ${path} is accessible by other users (mode ${(s.mode & 0o777).toString(8)}): run chmod 600 ${path}`, 'ERR_IDENTITY_MODE')
    }
    bytes = await readFile(path)
  } catch (err: any) {
    if (err.code !== 'ENOENT') throw err
    const key = await generateKeyPair('Ed25519')
    await writeFileAtomic(path, privateKeyToProtobuf(key), 0o600)
    return key
  }
  try {
    const key = privateKeyFromProtobuf(bytes)
    if (key.type !== 'Ed25519') throw new Error(`a ${key.type} key`)
    return key
  } catch (err: any) {
    throw new IdentityError(`identity file ${path} is not a valid ed25519 key (${err.message}): restore it from a backup, or move it away to make a new identity`, 'ERR_IDENTITY_INVALID')
  }
}
