import { ApiError, apiLines } from './api-client.js'

/**
 * Asks a node to fetch a skill release (its cache first, then peers) and follows the NDJSON
 * progress lines, with a progress bar on a terminal.
 */
export interface FetchResult { cid: string, size: number, source: string, dir: string, blob: string, release: { name: string, version: string } }

export async function fetchWithProgress (base: string, ref: string, showBar: boolean): Promise<FetchResult> {
  const { SingleBar, Presets } = (await import('cli-progress')).default
  const bar = showBar ? new SingleBar({ format: 'fetching [{bar}] {percentage}% {value}/{total} bytes from {peer}', stream: process.stderr, hideCursor: true }, Presets.shades_classic) : undefined
  let started = false
  try {
    for await (const line of apiLines(base, '/v1/skills/fetch', { method: 'POST', body: { ref } })) {
      if (line.progress != null && bar != null) {
        const p = line.progress as { peer: string, bytes: number, total: number }
        if (!started) { bar.start(p.total, 0, { peer: p.peer.slice(-12) }); started = true }
        bar.update(p.bytes, { peer: p.peer.slice(-12) })
      }
      if (line.error != null) throw new ApiError(String(line.error.message), 'ERR_API_STATUS', 502)
      if (line.result != null) return line.result as FetchResult
    }
  } finally {
    if (started) bar?.stop()
  }
  throw new ApiError('the node ended the fetch without a result', 'ERR_API_RESPONSE')
}
