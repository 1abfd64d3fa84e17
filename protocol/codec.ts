import * as dagCbor from '@ipld/dag-cbor'

/**
 * The canonical encoding of every AAS message: DAG-CBOR (sorted map keys, minimal integers,
 * no indefinite lengths, no floats where integers fit). Its decoder is strict, so a decoded
 * value re-encodes to the very same bytes: a signature over the encoding is unambiguous.
 */
export function encodeCanonical (value: unknown): Uint8Array {
  return dagCbor.encode(value)
}

export function decodeCanonical (bytes: Uint8Array): unknown {
  return dagCbor.decode(bytes)
}

/** `prefix` (a domain-separation tag) followed by the canonical encoding of `value`. */
export function domainSeparated (domain: string, value: unknown): Uint8Array {
  const tag = new TextEncoder().encode(`${domain}\n`)
  const body = encodeCanonical(value)
  const out = new Uint8Array(tag.length + body.length)
  out.set(tag, 0)
  out.set(body, tag.length)
  return out
}
