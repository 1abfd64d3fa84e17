/**
 * `/aas/bundle/1.0.0` frames and the defaults of both sides. Bytes travel in frames of at
 * most FRAME_BYTES; a request or header frame is at most HEADER_BYTES.
 */
export const FRAME_BYTES = 64 * 1024
export const HEADER_BYTES = 1024

export interface FetchOptions {
  /** Largest bundle this node fetches, in bytes. */
  maxBytes: number
  /** Longest one provider may take for the whole bundle. */
  timeoutMs: number
  /** A provider that sends nothing for this long is dropped. */
  stallMs: number
}

export const defaultFetchOptions: Readonly<FetchOptions> = {
  maxBytes: 16 * 1024 * 1024,
  timeoutMs: 60_000,
  stallMs: 10_000
}

export interface BundleServerOptions {
  /** Requests served at once. */
  maxInboundStreams: number
  /** A fetcher that sends no request within this is dropped. */
  requestTimeoutMs: number
  /** Called with the size of each bundle served in full (for metrics). */
  onServed?: (bytes: number) => void
  /**
   * Whether `peer` may open one more stream now: true, or why not (`rate-limited`, `not-member`),
   * answered `{ok: false, error: WHY}` before the request is read.
   */
  admit?: (peer: string) => true | string
}

export const defaultBundleServerOptions: Readonly<BundleServerOptions> = {
  maxInboundStreams: 32,
  requestTimeoutMs: 10_000
}
