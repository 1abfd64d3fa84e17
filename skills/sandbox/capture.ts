import type { Readable } from 'node:stream'

/**
 * Reads a stream with a byte cap: keeps at most `cap` bytes (the head, or with `tail` the
 * end), counts everything, and calls `onOverflow` once when the cap is passed. The data past
 * the cap is read and dropped, so a flood costs time, never memory.
 */
export class CappedCapture {
  private readonly chunks: Buffer[] = []
  private kept = 0
  total = 0
  overflowed = false

  constructor (stream: Readable, private readonly cap: number, private readonly tail = false, private readonly onOverflow?: () => void) {
    stream.on('data', (chunk: Buffer) => { this.push(chunk) })
  }

  private push (chunk: Buffer): void {
    this.total += chunk.length
    if (this.tail) {
      this.chunks.push(chunk)
      this.kept += chunk.length
      while (this.kept - this.chunks[0].length >= this.cap) this.kept -= this.chunks.shift()!.length
      return
    }
    if (this.kept < this.cap) {
      const part = chunk.subarray(0, this.cap - this.kept)
      this.chunks.push(part)
      this.kept += part.length
    }
    if (this.total > this.cap && !this.overflowed) {
      this.overflowed = true
      this.onOverflow?.()
    }
  }

  text (): string {
    const all = Buffer.concat(this.chunks)
    return (this.tail ? all.subarray(Math.max(0, all.length - this.cap)) : all).toString('utf8')
  }
}
