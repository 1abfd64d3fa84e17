import { ApiError } from './api-client.js'

/**
 * Asks a node to fetch a skill release (its cache first, then peers) and follows the NDJSON
 * progress lines, with a progress bar on a terminal.
 */
export interface FetchResult { cid: string, size: number, source: string, dir: string, blob: string, release: { name: string, version: string } }

export async function fetchWithProgress (base: string, ref: string, showBar: boolean): Promise<FetchResult> {
  let res: Response
  try {
    res = await fetch(`${base}/v1/skills/fetch`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ref }) })
  } catch (err: any) {
    throw new ApiError(`no AAS node answers at ${base} (${String(err?.cause?.code ?? err?.message)}): is it running?`, 'ERR_API_UNREACHABLE')
  }
  if (!res.ok || res.body == null) {
    const body = await res.json().catch(() => ({})) as { message?: string }
    throw new ApiError(body.message ?? `HTTP ${res.status}`, 'ERR_API_STATUS', res.status)
  }
  const { SingleBar, Presets } = (await import('cli-progress')).default
  const bar = showBar ? new SingleBar({ format: 'fetching [{bar}] {percentage}% {value}/{total} bytes from {peer}', stream: process.stderr, hideCursor: true }, Presets.shades_classic) : undefined
  let started = false
  let buffered = ''
  const decoder = new TextDecoder()
  try {
    for await (const chunk of res.body) {
      buffered += decoder.decode(chunk as Uint8Array, { stream: true })
      let nl: number
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = JSON.parse(buffered.slice(0, nl))
        buffered = buffered.slice(nl + 1)
        if (line.progress != null && bar != null) {
          const p = line.progress as { peer: string, bytes: number, total: number }
          if (!started) { bar.start(p.total, 0, { peer: p.peer.slice(-12) }); started = true }
          bar.update(p.bytes, { peer: p.peer.slice(-12) })
        }
        if (line.error != null) throw new ApiError(String(line.error.message), 'ERR_API_STATUS', 502)
        if (line.result != null) return line.result as FetchResult
      }
    }
  } finally {
    if (started) bar?.stop()
  }
  throw new ApiError('the node ended the fetch without a result', 'ERR_API_RESPONSE')
}
