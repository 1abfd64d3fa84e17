import { base58btc } from 'multiformats/bases/base58'

/**
 * The one text form of an ed25519 public key used everywhere (config, CLI output, trust
 * lists, releases): the did:key encoding — multibase base58btc of the multicodec
 * `ed25519-pub` (0xed 0x01) followed by the 32 raw bytes — so every key reads `z6Mk…`.
 */
const ED25519_PUB_PREFIX = Uint8Array.from([0xed, 0x01])

export function publicKeyText (raw: Uint8Array): string {
  if (raw.length !== 32) throw new TypeError('an ed25519 public key is 32 bytes')
  const bytes = new Uint8Array(34)
  bytes.set(ED25519_PUB_PREFIX, 0)
  bytes.set(raw, 2)
  return base58btc.encode(bytes)
}

/** Parses the text form; throws TypeError naming what is wrong. */
export function parsePublicKeyText (text: string): Uint8Array {
  let bytes: Uint8Array
  try {
    bytes = base58btc.decode(text)
  } catch {
    throw new TypeError(`"${text}" is not a public key (expected z6Mk…, as "aas keys show" prints)`)
  }
  if (bytes.length !== 34 || bytes[0] !== 0xed || bytes[1] !== 0x01) throw new TypeError(`"${text}" is not an ed25519 public key (expected z6Mk…)`)
  return bytes.slice(2)
}

export function isPublicKeyText (text: string): boolean {
  try {
    parsePublicKeyText(text)
    return true
  } catch { return false }
}
