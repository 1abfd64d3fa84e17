import type { AuditRecord } from './actions.js'
import type { AuditLog } from './log.js'

/**
 * Refused messages go in the audit trail without letting a flood grow it: at most one entry per
 * sender and window (a minute). The first refusal of a window is written at once; the rest are
 * counted and written as one summary when the sender's window ends. The table of senders is
 * bounded; past it, refusals are counted under `*`.
 */
export interface RejectAuditorOptions {
  windowMs: number
  maxSenders: number
}

export const defaultRejectAuditorOptions: RejectAuditorOptions = { windowMs: 60_000, maxSenders: 4096 }

interface Window { start: number, counts: Record<string, number>, suppressed: number }

export class RejectAuditor {
  private readonly senders = new Map<string, Window>()
  private readonly opts: RejectAuditorOptions
  private timer: NodeJS.Timeout | undefined

  constructor (private readonly c: {
    audit: Pick<AuditLog, 'append'>
    now?: () => number
    /** The entry of a first refusal or a window's summary [default: `message.rejected` by the sender]. */
    toRecord?: (sender: string, details: Record<string, unknown>) => AuditRecord
  }, opts: Partial<RejectAuditorOptions> = {}) {
    this.opts = { ...defaultRejectAuditorOptions, ...opts }
  }

  private get now (): number { return (this.c.now ?? Date.now)() }

  start (): void {
    this.timer = setInterval(() => { this.sweep() }, Math.max(1000, this.opts.windowMs / 4))
    this.timer.unref()
  }

  stop (): void {
    clearInterval(this.timer)
    this.sweep(true)
  }

  /** One refused message from `sender` for `reason` (a fixed reject code) on `channel` (topic or protocol). */
  note (sender: string, reason: string, channel: string): void {
    const now = this.now
    let w = this.senders.get(sender)
    if (w != null && now - w.start >= this.opts.windowMs) { this.flush(sender, w); w = undefined }
    if (w == null) {
      if (this.senders.size >= this.opts.maxSenders && sender !== '*') { this.note('*', reason, channel); return }
      this.senders.set(sender, { start: now, counts: {}, suppressed: 0 })
      this.record(sender, { reason, channel, count: 1 })
      return
    }
    w.counts[reason] = (w.counts[reason] ?? 0) + 1
    w.suppressed++
  }

  /** Ends windows that are over (all of them on stop), writing their summaries. */
  sweep (all = false): void {
    const now = this.now
    for (const [sender, w] of this.senders) if (all || now - w.start >= this.opts.windowMs) this.flush(sender, w)
  }

  private flush (sender: string, w: Window): void {
    this.senders.delete(sender)
    if (w.suppressed > 0) this.record(sender, { summary: true, windowStart: w.start, counts: w.counts, count: w.suppressed })
  }

  private record (sender: string, details: Record<string, unknown>): void {
    const r = this.c.toRecord?.(sender, details) ?? { action: 'message.rejected', subject: sender, actor: sender, details }
    void this.c.audit.append(r).catch(() => {})
  }
}
