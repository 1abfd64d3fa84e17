import { expect } from 'chai'
import { spawn } from 'node:child_process'
import { cp as copyTree, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { decodeCanonical, encodeCanonical, type AuditCheckpoint, type AuditEntry, type AuditVerifyReport } from '../../../protocol/index.js'
import { entryKey } from '../../../node/audit/index.js'
import { Bucket, NodeStore } from '../../../node/store/index.js'
import { AAS_BIN, childEnv, getJson, runCli, startCliNode, tempDir, type CliResult } from '../../utils/cli-node.js'

/**
 * `aas audit` through the real CLI on a real node's log: a node started and stopped three
 * times (entries config.loaded, node.started, node.stopped each run), a checkpoint taken while
 * it runs, the log exported once it stopped. Then each way of tampering with the export or with
 * the stopped node's LevelDB — one byte changed, an entry deleted, two swapped, the tail cut —
 * must make `aas audit verify` exit 1 naming the entry and the problem.
 */
type Report = AuditVerifyReport & { source: Record<string, string>, checkpointFrom: string | null }

async function verify (args: string[]): Promise<{ r: CliResult, report: Report }> {
  const r = await runCli(['audit', 'verify', '--json', ...args])
  return { r, report: JSON.parse(r.stdout) as Report }
}

/** Exit 1, the report's fault, and the same fault on one line of stderr. */
function expectFault ({ r, report }: { r: CliResult, report: Report }, problem: string, seq: number, what: string): void {
  expect(r.code, `${what}: ${r.stderr}`).to.equal(1)
  expect(report.ok, what).to.equal(false)
  expect({ problem: report.fault?.problem, seq: report.fault?.seq }, `${what}: ${report.fault?.message ?? ''}`).to.deep.equal({ problem, seq })
  expect(r.stderr.trim().split('\n'), what).to.have.length(1)
  expect(r.stderr, what).to.match(new RegExp(`^aas: entry ${seq} (\\(item \\d+\\) )?is ${problem}: `))
}

/** The same line with the character at `pos` replaced by another (all ASCII: one byte). */
function changeByte (line: string, pos: number): string {
  const c = line[pos]
  const other = /[0-9]/.test(c) ? String((Number(c) + 1) % 10) : c === 'x' ? 'y' : 'x'
  return line.slice(0, pos) + other + line.slice(pos + 1)
}

/** Where each field's value starts on an export line. */
function valueOffsets (line: string): number[] {
  return ['seq', 'ts', 'actor', 'action', 'subject', 'details', 'prev', 'node', 'sig'].map(k => line.indexOf(`"${k}":`) + k.length + 3)
}

/** Runs `fn` over `items`, `width` at a time (each case is a CLI process). */
async function inParallel<T> (items: T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  const queue = items.slice()
  await Promise.all(Array.from({ length: width }, async () => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) await fn(item)
  }))
}

describe('aas audit: verify, tail, export and checkpoint on a real node', function () {
  this.timeout(300_000)
  let dir: Awaited<ReturnType<typeof tempDir>>
  let data: string
  let peerId: string
  let lines: string[]
  let exported: string
  let runningExport: string
  /** Signed while the third run was up (at its node.started); `final`: the one the node signed as it stopped. */
  let cpFile: string
  let finalCpFile: string
  let cp: AuditCheckpoint

  before(async () => {
    dir = await tempDir('aas-audit-it-')
    data = join(dir.path, 'data')
    exported = join(dir.path, 'audit.jsonl')
    runningExport = join(dir.path, 'running.jsonl')
    cpFile = join(dir.path, 'checkpoint.json')
    finalCpFile = join(dir.path, 'final-checkpoint.json')
    for (let run = 1; run <= 3; run++) {
      const node = await startCliNode({ dataDir: data, team: null }) // a lone node: a team of one (its entries are counted exactly)
      peerId = node.peerId
      if (run === 3) {
        const c = await runCli(['audit', 'checkpoint', '--data', data, '--out', cpFile, '--json'])
        expect(c.code, c.stderr).to.equal(0)
        cp = JSON.parse(c.stdout) as AuditCheckpoint
        expect(JSON.parse(await readFile(cpFile, 'utf8'))).to.deep.equal(cp)
        const e = await runCli(['audit', 'export', '--data', data, '--out', runningExport, '--json'])
        expect(e.code, e.stderr).to.equal(0)
      }
      expect(await node.stop()).to.equal(0)
    }
    const e = await runCli(['audit', 'export', '--data', data, '--out', exported, '--json'])
    expect(e.code, e.stderr).to.equal(0)
    expect(JSON.parse(e.stdout)).to.deep.equal({ file: exported, entries: 9, firstSeq: 1, lastSeq: 9 })
    lines = (await readFile(exported, 'utf8')).split('\n').filter(l => l !== '')
    const f = await runCli(['audit', 'checkpoint', '--data', data, '--out', finalCpFile])
    expect(f.code, f.stderr).to.equal(0)
  })

  after(async () => { await dir?.remove() })

  it('records each start and stop, signed by the node; a running node signs a checkpoint of its head', () => {
    const entries = lines.map(l => JSON.parse(l) as AuditEntry)
    expect(entries.map(e => e.action)).to.deep.equal(Array(3).fill(['config.loaded', 'node.started', 'node.stopped']).flat())
    expect(entries.map(e => e.seq)).to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8, 9])
    expect(entries.every(e => e.node === peerId)).to.equal(true)
    expect(cp).to.include({ node: peerId, seq: 8 })
  })

  it('verifies the untouched export, with either checkpoint, and the stopped node\'s data dir', async () => {
    const whole = await verify(['--file', exported, '--checkpoint', cpFile])
    expect(whole.r.code, whole.r.stderr).to.equal(0)
    expect(whole.report).to.deep.include({ ok: true, node: peerId, entries: 9, firstSeq: 1, lastSeq: 9, checkpoint: { seq: 8, headHash: cp.headHash, found: true }, checkpointFrom: 'file' })
    expect((await verify(['--file', exported, '--checkpoint', finalCpFile])).r.code).to.equal(0)
    const human = await runCli(['audit', 'verify', '--file', exported])
    expect(human.code).to.equal(0)
    expect(human.stdout).to.equal(`audit log of ${peerId} is whole: 9 entries (1..9)\n`)
    // the node's data dir is checked against its own latest checkpoint (the one it signed at stop)
    const dd = await verify(['--data', data])
    expect(dd.r.code, dd.r.stderr).to.equal(0)
    expect(dd.report).to.deep.include({ ok: true, node: peerId, entries: 9, checkpointFrom: 'node', source: { data: data } })
    expect(dd.report.checkpoint).to.deep.include({ seq: 9, found: true })
  })

  it('exported the same bytes through the running node\'s API as from its stopped data dir', async () => {
    const running = (await readFile(runningExport, 'utf8')).split('\n').filter(l => l !== '')
    expect(running).to.deep.equal(lines.slice(0, 8))
  })

  it('exports from a seq; that export verifies alone with --from, and a whole log must start at 1', async () => {
    const part = join(dir.path, 'part.jsonl')
    const e = await runCli(['audit', 'export', '--data', data, '--from', '4', '--out', part])
    expect(e.code, e.stderr).to.equal(0)
    expect(e.stdout).to.include(`verify --file ${part} --from 4`)
    expect((await verify(['--file', part, '--from', '4', '--checkpoint', cpFile])).r.code).to.equal(0)
    expectFault(await verify(['--file', part]), 'deleted', 1, 'a part checked as a whole log')
  })

  it('finds one byte changed in any entry, in every field, naming the entry', async () => {
    const cases: Array<{ line: number, pos: number }> = []
    lines.forEach((line, i) => {
      const offs = valueOffsets(line)
      // three fields per entry, a different three on the next: all nine fields over every three entries
      for (let k = 0; k < 3; k++) cases.push({ line: i, pos: offs[(i * 3 + k) % offs.length] + (k === 2 ? 1 : 0) })
    })
    // the signature's last character (spare bits) and the closing brace
    cases.push({ line: 4, pos: lines[4].length - 3 }, { line: 6, pos: lines[6].length - 1 })
    await inParallel(cases, 4, async ({ line, pos }) => {
      const file = join(dir.path, `byte-${line}-${pos}.jsonl`)
      const tampered = lines.slice()
      tampered[line] = changeByte(lines[line], pos)
      expect(tampered[line]).to.not.equal(lines[line])
      await writeFile(file, tampered.join('\n') + '\n')
      const res = await verify(['--file', file, '--checkpoint', cpFile])
      const what = `byte ${pos} of entry ${line + 1} (${JSON.stringify(lines[line].slice(pos - 8, pos + 8))})`
      expect(['malformed', 'edited', 'bad-signature'], `${what}: ${res.report.fault?.message ?? 'not found'}`).to.include(res.report.fault?.problem)
      expectFault(res, res.report.fault!.problem, line + 1, what)
      expect(res.report.fault?.position).to.equal(line + 1)
    })
  })

  it('finds a deleted entry; the last one only against a checkpoint that holds it', async () => {
    await inParallel([0, 3, 7], 3, async (i) => {
      const file = join(dir.path, `deleted-${i}.jsonl`)
      await writeFile(file, lines.filter((_, j) => j !== i).join('\n') + '\n')
      expectFault(await verify(['--file', file, '--checkpoint', cpFile]), 'deleted', i + 1, `entry ${i + 1} deleted`)
    })
    const file = join(dir.path, 'deleted-last.jsonl')
    await writeFile(file, lines.slice(0, 8).join('\n') + '\n')
    expect((await verify(['--file', file, '--checkpoint', cpFile])).r.code).to.equal(0)
    expectFault(await verify(['--file', file, '--checkpoint', finalCpFile]), 'truncated', 9, 'the last entry deleted')
  })

  it('finds two entries swapped, next to each other or not', async () => {
    await inParallel([[0, 1], [2, 6], [7, 8]], 3, async ([i, j]) => {
      const file = join(dir.path, `swapped-${i}-${j}.jsonl`)
      const s = lines.slice();
      [s[i], s[j]] = [s[j], s[i]]
      await writeFile(file, s.join('\n') + '\n')
      expectFault(await verify(['--file', file, '--checkpoint', cpFile]), 'reordered', i + 1, `entries ${i + 1} and ${j + 1} swapped`)
    })
  })

  it('finds the tail cut before the checkpoint\'s entry, which the chain alone cannot', async () => {
    for (const keep of [7, 4, 1]) {
      const file = join(dir.path, `cut-${keep}.jsonl`)
      await writeFile(file, lines.slice(0, keep).join('\n') + '\n')
      expect((await verify(['--file', file])).r.code, 'no checkpoint: a shorter log is still a whole one').to.equal(0)
      expectFault(await verify(['--file', file, '--checkpoint', cpFile]), 'truncated', cp.seq, `cut after entry ${keep}`)
    }
  })

  describe('on a stopped node\'s data dir edited in LevelDB', () => {
    /** A copy of the data dir, changed by `edit` through LevelDB, checked by `aas audit verify --data`. */
    async function tamper (name: string, edit: (db: ReturnType<NodeStore['sublevel']>, copy: string) => Promise<void>): Promise<Awaited<ReturnType<typeof verify>>> {
      const copy = join(dir.path, `data-${name}`)
      await copyTree(data, copy, { recursive: true })
      const store = new NodeStore(copy)
      await store.open()
      try { await edit(store.sublevel(Bucket.audit), copy) } finally { await store.close() }
      return await verify(['--data', copy])
    }
    const get = async (db: ReturnType<NodeStore['sublevel']>, seq: number): Promise<AuditEntry> => decodeCanonical((await db.get(entryKey(seq)))!) as AuditEntry

    it('finds an edited entry', async () => {
      for (const seq of [1, 5, 9]) {
        const res = await tamper(`edited-${seq}`, async (db) => {
          const e = await get(db, seq)
          await db.put(entryKey(seq), encodeCanonical({ ...e, details: { ...e.details, slots: 64 } }))
        })
        expectFault(res, 'edited', seq, `entry ${seq} edited`)
      }
    })

    it('finds a deleted entry, the last one against the node\'s own checkpoint', async () => {
      expectFault(await tamper('deleted-4', async (db) => { await db.del(entryKey(4)) }), 'deleted', 4, 'entry 4 deleted')
      expectFault(await tamper('deleted-1', async (db) => { await db.del(entryKey(1)) }), 'deleted', 1, 'entry 1 deleted')
      expectFault(await tamper('deleted-9', async (db) => { await db.del(entryKey(9)) }), 'truncated', 9, 'entry 9 deleted')
    })

    it('finds two entries swapped', async () => {
      for (const [a, b] of [[3, 4], [2, 8]]) {
        const res = await tamper(`swapped-${a}-${b}`, async (db) => {
          const [va, vb] = [await db.get(entryKey(a)), await db.get(entryKey(b))]
          await db.batch([{ type: 'put', key: entryKey(a), value: vb! }, { type: 'put', key: entryKey(b), value: va! }])
        })
        expectFault(res, 'reordered', a, `entries ${a} and ${b} swapped`)
      }
    })

    it('refuses a log its data dir\'s identity did not sign, and leaves an untouched copy whole', async () => {
      const other = privateKeyToProtobuf(await generateKeyPair('Ed25519'))
      expectFault(await tamper('other-key', async (_db, copy) => { await writeFile(join(copy, 'identity.key'), other, { mode: 0o600 }) }), 'bad-signature', 1, 'another identity')
      const res = await tamper('untouched', async () => {})
      expect(res.r.code, res.r.stderr).to.equal(0)
    })
  })

  describe('on a running node', () => {
    let node: Awaited<ReturnType<typeof startCliNode>>
    let copy: string
    beforeEach(async () => {
      copy = join(dir.path, `data-running-${Date.now()}`)
      await copyTree(data, copy, { recursive: true })
      node = await startCliNode({ dataDir: copy, team: null })
    })
    afterEach(async () => { await node.stop() })

    it('serves pages of entries and refuses a bad query', async () => {
      const page = await getJson(`${node.api}/v1/audit?from=2&limit=3`)
      expect(page.entries.map((e: AuditEntry) => e.seq)).to.deep.equal([2, 3, 4])
      expect(page).to.include({ headSeq: 11, next: 5 })
      expect((await getJson(`${node.api}/v1/audit?from=10`)).next).to.equal(null)
      for (const q of ['from=0', 'from=x', 'limit=-1', 'limit=1.5']) {
        const res = await fetch(`${node.api}/v1/audit?${q}`)
        expect(res.status, q).to.equal(400)
        expect(((await res.json()) as { code: string }).code).to.equal('ERR_USAGE')
      }
      // the latest one: signed at the last stop (or since, on a timer); a new one on demand
      expect((await getJson(`${node.api}/v1/audit/checkpoint`)).seq).to.be.oneOf([9, 11])
      const signed = await getJson<AuditCheckpoint>(`${node.api}/v1/audit/checkpoint`, { method: 'POST' })
      expect(signed).to.include({ node: peerId, seq: 11 })
      expect(await getJson(`${node.api}/v1/audit/checkpoint`)).to.deep.equal(signed)
    })

    it('verifies and tails through the API while the node holds its database', async () => {
      const res = await verify(['--data', copy])
      expect(res.r.code, res.r.stderr).to.equal(0)
      expect(res.report).to.deep.include({ ok: true, entries: 11, source: { api: node.api } })
      const t = await runCli(['audit', 'tail', '--data', copy, '-n', '2', '--json'])
      expect(t.code, t.stderr).to.equal(0)
      expect(t.stdout.trim().split('\n').map(l => (JSON.parse(l) as AuditEntry).action)).to.deep.equal(['config.loaded', 'node.started'])
      const human = await runCli(['audit', 'tail', '--data', copy, '-n', '1'])
      expect(human.stdout).to.match(/^\s+11 {2}\S+Z {2}node\.started {2}12D3KooW/)
    })

    it('follows new entries as the node writes them, and ends when the node stops', async () => {
      const child = spawn(process.execPath, [AAS_BIN, 'audit', 'tail', '--follow', '-n', '1', '--json', '--data', copy], { env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] })
      const exited = new Promise<number | null>(resolve => { child.once('exit', resolve) })
      const got: AuditEntry[] = []
      const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]()
      // its output ends when it exits, so a missing line fails here rather than waits
      const next = async (): Promise<AuditEntry> => {
        const r = await lines.next()
        if (r.done === true) throw new Error(`tail --follow ended early: ${String(await exited)}`)
        return JSON.parse(r.value) as AuditEntry
      }
      got.push(await next()) // the last entry, through the stream: it is connected
      expect(got[0]).to.include({ seq: 11, action: 'node.started' })
      expect(await node.stop()).to.equal(0)
      got.push(await next())
      expect(got[1]).to.include({ seq: 12, action: 'node.stopped' })
      expect(await exited).to.equal(0)
    })
  })

  it('tails and shows the checkpoint of a stopped node; --follow there and bad flag mixes are usage errors', async () => {
    const t = await runCli(['audit', 'tail', '--data', data, '-n', '3', '--json'])
    expect(t.code, t.stderr).to.equal(0)
    expect(t.stdout.trim().split('\n').map(l => (JSON.parse(l) as AuditEntry).seq)).to.deep.equal([7, 8, 9])
    const c = await runCli(['audit', 'checkpoint', '--data', data, '--json'])
    expect(JSON.parse(c.stdout)).to.deep.equal(JSON.parse(await readFile(finalCpFile, 'utf8')))
    const usage: string[][] = [
      ['audit', 'tail', '--follow', '--data', data],
      ['audit', 'verify', '--file', exported, '--data', data],
      ['audit', 'verify', '--data', join(dir.path, 'nothing-here')],
      ['audit', 'verify', '--data', data, '--from', '2'],
      ['audit', 'export', '--data', data]
    ]
    for (const args of usage) {
      const r = await runCli(args)
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).to.equal(2)
      expect(r.stderr).to.match(/^aas: /)
    }
  })
})
