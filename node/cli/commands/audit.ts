import { resolve } from 'node:path'
import type { Command } from 'commander'
import { UsageError } from '../../../protocol/errors.js'
import type { AuditCheckpoint, AuditEntry, AuditVerifyReport } from '../../../protocol/index.js'
import type { AuditSource, AuditTarget } from '../audit-source.js'
import { emit } from '../output.js'
import { positiveInt } from './task.js'

/**
 * `aas audit`: verify, tail, export, checkpoint. Each works on a stopped node's data dir
 * (its LevelDB, opened directly) and on a running node (its API); `verify` also on an
 * exported file, which is how a log is checked away from the node that wrote it.
 */
const target = (cmd: Command): Command => cmd
  .option('--data <dir>', 'the node\'s data directory [default: env AAS_DATA, ~/.aas]; a running node there is asked through its API')
  .option('--api <url>', 'or ask the node at this API [env AAS_API]')

/** Loaded on use: `aas --help` need not load LevelDB. */
async function withSource<T> (opts: AuditTarget, fn: (src: AuditSource) => Promise<T>): Promise<T> {
  const { openAuditSource } = await import('../audit-source.js')
  const src = await openAuditSource(opts)
  try {
    return await fn(src)
  } finally {
    await src.close()
  }
}

/** One entry on one line: seq, time, action, subject, and who and what when they say more. */
function entryLine (v: unknown, node: string | undefined): string {
  const e = v as Partial<AuditEntry>
  if (typeof e?.seq !== 'number' || typeof e.ts !== 'number') return `?  not an entry: ${JSON.stringify(v)}`
  const by = e.actor != null && e.actor !== (node ?? e.node) ? `  by ${e.actor}` : ''
  const details = e.details != null && Object.keys(e.details).length > 0 ? `  ${JSON.stringify(e.details)}` : ''
  return `${String(e.seq).padStart(6)}  ${new Date(e.ts).toISOString()}  ${String(e.action)}  ${String(e.subject)}${by}${details}`
}

const checkpointLine = (cp: AuditCheckpoint): string =>
  `checkpoint of node ${cp.node} at entry ${cp.seq} (${cp.headHash}), signed ${new Date(cp.ts).toISOString()}`

export function registerAudit (program: Command): void {
  const audit = program.command('audit').description('check, read and export a node\'s signed, hash-chained audit trail')

  target(audit.command('verify'))
    .description('check every hash link, signature and seq of a log; with --checkpoint, also that it still holds that entry')
    .option('--file <file>', 'an exported log (aas audit export) instead of a node\'s')
    .option('--from <seq>', 'with --file: the seq the export starts at (export --from SEQ) [default: 1, a whole log]', positiveInt('--from', Number.MAX_SAFE_INTEGER))
    .option('--checkpoint <file>', 'a checkpoint (aas audit checkpoint --out) kept away from the node [default for a node: its own latest]')
    .option('--json', 'print the report {ok, node, entries, firstSeq, lastSeq, headHash, checkpoint?, fault?}')
    .action(async (opts) => {
      if (opts.file != null && (opts.data != null || opts.api != null)) throw new UsageError('give --file, or a node with --data/--api, not both')
      if (opts.file == null && opts.from != null) throw new UsageError('--from is for an exported file (--file): a node\'s log is checked from entry 1')
      const { readCheckpointFile, verifyAuditEntries, verifyAuditFile, describeFault, AuditError, AuditErrorCode } = await import('../../audit/index.js')
      const given = opts.checkpoint != null ? await readCheckpointFile(opts.checkpoint) : undefined
      const { report, source, checkpointFrom } = opts.file != null
        ? { report: await verifyAuditFile(opts.file, { checkpoint: given, from: opts.from }), source: { file: resolve(opts.file) }, checkpointFrom: given != null ? 'file' : null }
        : await withSource(opts, async (src): Promise<{ report: AuditVerifyReport, source: unknown, checkpointFrom: string | null }> => {
          // without one kept elsewhere, the node's own latest checkpoint still finds a cut tail
          const own = given == null ? await src.latestCheckpoint() : undefined
          const values = src.entries(1)
          const report = await verifyAuditEntries((async function * () { for await (const value of values) yield { value } })(), { node: src.node, checkpoint: given ?? own })
          return { report, source: src.where, checkpointFrom: given != null ? 'file' : own != null ? 'node' : null }
        })
      const line = describeFault(report)
      if (report.ok) {
        const how = checkpointFrom === 'node' ? ' (against the node\'s own checkpoint: only one kept elsewhere proves the tail)' : ''
        emit(opts.json === true, { ...report, source, checkpointFrom }, () => line + how)
        return
      }
      if (opts.json === true) emit(true, { ...report, source, checkpointFrom }, () => '')
      throw new AuditError(line, AuditErrorCode.INVALID)
    })

  target(audit.command('tail'))
    .description('print the last entries; --follow keeps printing new ones (running node)')
    .option('-n, --lines <n>', 'how many [default: 10]', positiveInt('-n', 1000))
    .option('--follow', 'then print each new entry as the node writes it, until it stops')
    .option('--json', 'one entry a line, as JSON')
    .action(async (opts) => {
      const print = (v: unknown, node: string | undefined): void => { emit(opts.json === true, v, () => entryLine(v, node)) }
      await withSource(opts, async (src) => {
        if (opts.follow === true && src.follow == null) throw new UsageError(`--follow needs a running node: none runs on ${'data' in src.where ? src.where.data : 'it'}`)
        const last = await src.last(opts.lines ?? 10)
        if (opts.follow !== true || src.follow == null) { for (const v of last) print(v, src.node); return }
        // the stream itself sends the last ones, then every new one: none falls between
        const first = (last[0] as Partial<AuditEntry> | undefined)?.seq
        for await (const v of src.follow(typeof first === 'number' ? first : 1)) print(v, src.node)
      })
    })

  target(audit.command('export'))
    .description('write the log as JSON lines, one entry a line, verifiable alone with verify --file')
    .requiredOption('--out <file>', 'the file to write (atomically: a whole export or none)')
    .option('--from <seq>', 'first entry [default: 1]', positiveInt('--from', Number.MAX_SAFE_INTEGER))
    .option('--json', 'print {file, entries, firstSeq, lastSeq}')
    .action(async (opts) => {
      const [{ exportLines }, { writeFileAtomic }] = await Promise.all([import('../../audit/index.js'), import('../../fs-util.js')])
      const file = resolve(opts.out)
      const out = { file, entries: 0, firstSeq: null as number | null, lastSeq: null as number | null }
      await withSource(opts, async (src) => {
        const values = src.entries(opts.from ?? 1)
        // written a page at a time: a long log is never held whole
        async function * pages (): AsyncGenerator<string> {
          let page: AuditEntry[] = []
          for await (const v of values) {
            const e = v as AuditEntry
            out.entries++
            if (typeof e.seq === 'number') { out.firstSeq ??= e.seq; out.lastSeq = e.seq }
            page.push(e)
            if (page.length >= 1000) { yield exportLines(page); page = [] }
          }
          if (page.length > 0) yield exportLines(page)
        }
        await writeFileAtomic(file, pages(), 0o644)
      })
      const check = `aas audit verify --file ${file}${(opts.from ?? 1) > 1 ? ` --from ${String(opts.from)}` : ''}`
      emit(opts.json === true, out, () => `exported ${out.entries} entries${out.firstSeq != null ? ` (${out.firstSeq}..${out.lastSeq ?? ''})` : ''} to ${file}\ncheck it with: ${check}`)
    })

  target(audit.command('checkpoint'))
    .description('a running node signs a checkpoint of its log now; a stopped node\'s data dir shows its latest')
    .option('--out <file>', 'also write it here as JSON, to keep away from the node (a witness)')
    .option('--json', 'print {node, seq, headHash, ts, sig}')
    .action(async (opts) => {
      const { AuditError, AuditErrorCode } = await import('../../audit/index.js')
      const cp = await withSource(opts, async (src) => {
        const got = src.signCheckpoint != null ? await src.signCheckpoint() : await src.latestCheckpoint()
        if (got == null) throw new AuditError(`the log on ${'data' in src.where ? src.where.data : src.where.api} has no checkpoint yet (a node signs one when it stops)`, AuditErrorCode.UNREADABLE)
        return got
      })
      if (opts.out != null) {
        const { writeFileAtomic } = await import('../../fs-util.js')
        await writeFileAtomic(opts.out, JSON.stringify(cp, null, 2) + '\n', 0o644)
      }
      emit(opts.json === true, cp, () => checkpointLine(cp) + (opts.out != null ? `\nwritten to ${resolve(opts.out)}` : ''))
    })
}
