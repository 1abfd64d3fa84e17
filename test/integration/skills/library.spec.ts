import { createHash } from 'node:crypto'
import { chmod, cp, readFile, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { expect } from 'chai'
import { CID } from 'multiformats/cid'
import { rmTree } from '../../../skills/bundle/index.js'
import { REPO, runCli, startCliNode, getJson, waitFor, tempDir, type CliNode } from '../../utils/cli-node.js'

/**
 * The skill library across real node processes, through the real CLI: an author publishes
 * on A; C, two hops away (C–B–A, no C–A connection), finds the release in its search (by
 * gossip through B), fetches it by a version range, gets bytes whose hash is the CID, and runs it in the
 * sandbox. Conflicting, failing and untrusted publishes are refused with one line, and a
 * node that joins later learns the index from its peers.
 */
const CSV_CLEAN = join(REPO, 'skills', 'examples', 'csv-clean')

describe('skill library across nodes (CLI)', function () {
  this.timeout(120_000)
  let tmp: { path: string, remove: () => Promise<void> }
  let keyFile: string
  let author: string
  let untrustedKeyFile: string
  let config: string
  let a: CliNode
  let b: CliNode
  let c: CliNode
  let d: CliNode | undefined
  let published: { cid: string, name: string, version: string, author: string, size: number }
  const nodes: CliNode[] = []

  const start = async (name: string, bootstrap: string[]): Promise<CliNode> => {
    const node = await startCliNode({ dataDir: join(tmp.path, name), bootstrap, args: ['--config', config, '--trust-author', author] })
    nodes.push(node)
    return node
  }
  const peersOf = async (n: CliNode): Promise<string[]> => (await getJson(`${n.api}/v1/node`)).peers
  const knows = async (n: CliNode, who: CliNode): Promise<boolean> => (await getJson(`${n.api}/v1/mesh`)).peers.some((p: any) => p.peerId === who.peerId)
  const search = async (api: string, q: string): Promise<any[]> => {
    const r = await runCli(['skill', 'search', q, '--api', api, '--json'])
    if (r.code !== 0) throw new Error(`search failed: ${r.stderr}`)
    return JSON.parse(r.stdout)
  }

  before(async () => {
    tmp = await tempDir('aas-library-')
    keyFile = join(tmp.path, 'author.json')
    untrustedKeyFile = join(tmp.path, 'stranger.json')
    const k = await runCli(['keys', 'new', '--out', keyFile, '--json'])
    expect(k.code, k.stderr).to.equal(0)
    author = JSON.parse(k.stdout).publicKey
    expect((await runCli(['keys', 'new', '--out', untrustedKeyFile])).code).to.equal(0)
    const shown = await runCli(['keys', 'show', keyFile, '--json'])
    expect(JSON.parse(shown.stdout).publicKey).to.equal(author)

    // targetPeers 1 everywhere: no node dials peers it hears of, so the line stays C–B–A
    config = join(tmp.path, 'node.json')
    await writeFile(config, JSON.stringify({ mesh: { targetPeers: 1 } }))
    a = await start('a', [])
    b = await start('b', [a.addresses[0]])
    c = await start('c', [b.addresses[0]])
    await waitFor(async () => (await peersOf(b)).length === 2, 'B to connect to A and C', 15_000)
    // A answers C's first hello (relayed by B) with its own, so C learns A's addresses (it
    // fetches from A, the announcer; B holds no bundle) without anyone asking
    await waitFor(async () => await knows(c, a), 'a hello from A to reach C through B', 15_000, 250)
  })

  after(async () => {
    for (const n of nodes.reverse()) await n.stop().catch(() => {})
    if (tmp != null) await rmTree(tmp.path) // fetched skills are unpacked read-only
  })

  it('publishes on A; C, two hops away, finds it with search', async () => {
    const pub = await runCli(['skill', 'publish', CSV_CLEAN, '--key', keyFile, '--api', a.api, '--json'], { timeoutMs: 90_000 })
    expect(pub.code, pub.stderr).to.equal(0)
    published = JSON.parse(pub.stdout)
    expect(published).to.include({ name: 'csv-clean', version: '1.0.0', author, announced: true })
    const pack = await runCli(['skill', 'pack', CSV_CLEAN, '--json'])
    expect(JSON.parse(pack.stdout).cid).to.equal(published.cid)

    const hit = await waitFor(async () => (await search(c.api, 'csv')).find(h => h.cid === published.cid), 'C to find csv-clean', 30_000, 100)
    expect(hit).to.deep.include({ name: 'csv-clean', version: '1.0.0', author, category: 'data' })
    expect(hit.tags).to.include('csv')
    expect(hit.description).to.match(/CSV/)
    // it travelled by gossip through B: C holds no connection to A
    expect(await peersOf(c)).to.deep.equal([b.peerId])
  })

  it('C fetches csv-clean@^1: the blob hashes to the CID, and the fetched skill runs in the sandbox', async () => {
    const r = await runCli(['skill', 'fetch', 'csv-clean@^1', '--api', c.api, '--json'], { timeoutMs: 60_000 })
    expect(r.code, r.stderr).to.equal(0)
    const fetched = JSON.parse(r.stdout)
    expect(fetched.cid).to.equal(published.cid)
    expect(fetched.size).to.equal(published.size)
    expect(fetched.release).to.include({ name: 'csv-clean', version: '1.0.0', author })
    expect(fetched.source).to.be.oneOf([a.peerId, b.peerId])
    expect(fetched.attempts.some((x: any) => x.ok === true && x.peer === fetched.source)).to.equal(true)

    const blob = await readFile(join(c.dataDir, 'blobs', fetched.cid))
    expect(blob.length).to.equal(published.size)
    const digest = createHash('sha256').update(blob).digest()
    expect(Buffer.from(CID.parse(fetched.cid).multihash.digest).equals(digest)).to.equal(true)
    expect(await readdir(join(c.dataDir, 'blobs', '.tmp'))).to.deep.equal([])

    // a second fetch is served from the local cache
    const again = JSON.parse((await runCli(['skill', 'fetch', published.cid, '--api', c.api, '--json'])).stdout)
    expect(again.source).to.equal('local')
    expect(again.dir).to.equal(fetched.dir)

    const input = JSON.stringify({ csv: 'name , joined\n Ada ,03/12/2024\n\nAda,03/12/2024\n', dateColumns: ['joined'] })
    const run = await runCli(['skill', 'run', fetched.dir, '--input', input, '--json'], { timeoutMs: 60_000 })
    expect(run.code, run.stderr + run.stdout).to.equal(0)
    const out = JSON.parse(run.stdout)
    expect(out.status).to.equal('succeeded')
    expect(out.output).to.deep.include({ csv: 'name,joined\nAda,2024-03-12\n', rows: 1, removedDuplicates: 1, removedBlank: 1 })
  })

  it('aas skill run NAME runs the verified bundle, not a tampered unpacked copy; a damaged blob is fetched again', async () => {
    const fetched = JSON.parse((await runCli(['skill', 'fetch', 'csv-clean', '--api', c.api, '--json'])).stdout)
    // someone edits the unpacked copy on disk (it is read-only; root can still write it)
    const main = join(fetched.dir, 'main.py')
    await chmod(main, 0o644)
    await writeFile(main, 'print("{\\"tampered\\": true}")\n')
    const input = JSON.stringify({ csv: 'a\n1\n1\n' })
    const run = await runCli(['skill', 'run', 'csv-clean@^1', '--api', c.api, '--input', input, '--json'], { timeoutMs: 60_000 })
    expect(run.code, run.stderr + run.stdout).to.equal(0)
    expect(JSON.parse(run.stdout).output).to.deep.include({ csv: 'a\n1\n', rows: 1, removedDuplicates: 1 })

    // a blob damaged on disk is found out when read: the node removes it and fetches it again
    const blob = join(c.dataDir, 'blobs', fetched.cid)
    const bytes = await readFile(blob)
    bytes[bytes.length - 2] ^= 0xff
    await writeFile(blob, bytes)
    const healed = await runCli(['skill', 'run', 'csv-clean@^1', '--api', c.api, '--input', input, '--json'], { timeoutMs: 60_000 })
    expect(healed.code, healed.stderr).to.equal(0)
    expect(JSON.parse(healed.stdout).output).to.deep.include({ csv: 'a\n1\n', rows: 1 })
    const digest = createHash('sha256').update(await readFile(blob)).digest()
    expect(Buffer.from(CID.parse(fetched.cid).multihash.digest).equals(digest), 'the blob was fetched again whole').to.equal(true)
  })

  it('refuses the same name and version with other content: one stderr line, exit non-zero', async () => {
    const dir = join(tmp.path, 'csv-clean-changed')
    await cp(CSV_CLEAN, dir, { recursive: true })
    const manifest = JSON.parse(await readFile(join(dir, 'skill.json'), 'utf8'))
    manifest.description = 'Something else entirely, under the same name and version.'
    await writeFile(join(dir, 'skill.json'), JSON.stringify(manifest, null, 2))
    const r = await runCli(['skill', 'publish', dir, '--key', keyFile, '--api', a.api, '--json'], { timeoutMs: 90_000 })
    expect(r.code).to.not.equal(0)
    expect(r.stdout).to.equal('')
    const lines = r.stderr.trim().split('\n')
    expect(lines, r.stderr).to.have.length(1)
    expect(lines[0]).to.match(/^aas: publish refused: .*csv-clean@1\.0\.0.*already/)
    // the index still names the first content
    const shown = JSON.parse((await runCli(['skill', 'show', 'csv-clean', '--api', a.api, '--json'])).stdout)
    expect(shown.cid).to.equal(published.cid)
    expect(shown.manifest.description).to.not.match(/Something else/)
  })

  it('refuses a skill whose tests fail; it is not in the search', async () => {
    const dir = join(tmp.path, 'csv-broken')
    await cp(CSV_CLEAN, dir, { recursive: true })
    const manifest = JSON.parse(await readFile(join(dir, 'skill.json'), 'utf8'))
    manifest.name = 'csv-broken'
    manifest.tests[0].expect.rows = 99
    await writeFile(join(dir, 'skill.json'), JSON.stringify(manifest, null, 2))
    const r = await runCli(['skill', 'publish', dir, '--key', keyFile, '--api', a.api, '--json'], { timeoutMs: 90_000 })
    expect(r.code).to.not.equal(0)
    expect(r.stderr.trim().split('\n'), r.stderr).to.have.length(1)
    expect(r.stderr).to.match(/tests failed/)
    expect((await search(a.api, 'csv')).map(h => h.name)).to.deep.equal(['csv-clean'])
    expect((await search(a.api, 'broken')).length).to.equal(0)
    const show = await runCli(['skill', 'show', 'csv-broken', '--api', a.api, '--json'])
    expect(show.code).to.not.equal(0)
  })

  it('refuses a release by an author the node does not trust, naming --trust-author', async () => {
    const dir = join(tmp.path, 'csv-stranger')
    await cp(CSV_CLEAN, dir, { recursive: true })
    const manifest = JSON.parse(await readFile(join(dir, 'skill.json'), 'utf8'))
    manifest.name = 'csv-stranger'
    await writeFile(join(dir, 'skill.json'), JSON.stringify(manifest, null, 2))
    const r = await runCli(['skill', 'publish', dir, '--key', untrustedKeyFile, '--api', a.api, '--json'], { timeoutMs: 90_000 })
    expect(r.code).to.not.equal(0)
    expect(r.stderr.trim().split('\n'), r.stderr).to.have.length(1)
    expect(r.stderr).to.match(/--trust-author z6Mk/)
    expect((await search(a.api, 'stranger')).length).to.equal(0)
  })

  it('a node started later learns the index from its peers, without a new publish', async () => {
    d = await start('d', [b.addresses[0]])
    const hit = await waitFor(async () => (await search(d!.api, 'csv')).find(h => h.cid === published.cid), 'D to learn csv-clean from its peers', 10_000, 200)
    expect(hit).to.include({ name: 'csv-clean', version: '1.0.0', author })
    // the refused releases did not spread either
    expect((await search(d.api, '')).map(h => h.name)).to.deep.equal(['csv-clean'])
  })
})
