import * as dagCbor from '@ipld/dag-cbor'

/**
 * The canonical encoding of every AAS message: DAG-CBOR (sorted map keys, minimal integers,
 * no indefinite lengths, no floats where integers fit). Decoding accepts only bytes that a
 * decoded value re-encodes to exactly, so a signature over the encoding is unambiguous.
 */
export function encodeCanonical (value: unknown): Uint8Array {
  return dagCbor.encode(value)
}

export function decodeCanonical (bytes: Uint8Array): unknown {
  const value = dagCbor.decode(bytes)
  // the decoder alone is not enough: it reads CBOR `undefined` (0xf7) as null, so two byte
  // strings would give one value (found by the stream fuzzer). Only the one encoding counts.
  const again = dagCbor.encode(value)
  if (again.length !== bytes.length || Buffer.compare(again, bytes) !== 0) throw new Error('not the canonical encoding of its value')
  return value
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
