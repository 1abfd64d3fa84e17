import { spawn } from 'node:child_process'
import { randomBytes, createHash } from 'node:crypto'
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { peerIdFromString } from '@libp2p/peer-id'
import { AasNode, resolveConfig } from '../../node/index.js'
import { BundleFetcher } from '../../skills/fetch/index.js'
import { manifestDigest, signRelease } from '../../protocol/index.js'
import { BundleHasher, packSkill, rmTree } from '../../skills/bundle/index.js'
import { createAuthorKey } from '../../skills/keys.js'
import { ChildNode, childEnv } from '../lib/child-node.js'
import { measurePair } from './measure.js'
import type { Benchmark, BenchContext, BenchResult } from './types.js'
import { LocalTeam } from '../lib/team.js'

/**
 * bundle-fetch: throughput of fetching a ~16 MiB bundle over `/aas/bundle/1.0.0` from a node
 * in another process (stream, length-prefixed 64 KiB frames, hashing into a temp file, fsync,
 * rename), against a raw TCP pipe of the same bytes between two Node.js processes.
 * bundle-hash: the incremental CID hasher over 64 KiB chunks against one `node:crypto`
 * sha256 of the whole buffer.
 */
const FILE_BYTES = 8 * 1024 * 1024 - 64 * 1024 // two files under the 8 MiB file limit: a bundle just under 16 MiB
const MB = 1024 * 1024

/** A child process that sends `bytes` random bytes to each connection, then closes it. */
async function rawSender (bytes: number): Promise<{ port: number, stop: () => void }> {
  const code = `
    const net = require('node:net'); const buf = require('node:crypto').randomBytes(${bytes})
    const srv = net.createServer((s) => { s.end(buf) }).listen(0, '127.0.0.1', () => { process.stdout.write(String(srv.address().port) + '\\n') })`
  const child = spawn(process.execPath, ['-e', code], { env: childEnv(), stdio: ['ignore', 'pipe', 'inherit'] })
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.once('data', (d) => { resolve(Number(String(d).trim())) })
    child.once('exit', () => { reject(new Error('raw sender exited')) })
  })
  return { port, stop: () => { child.kill() } }
}

async function rawReceive (port: number, bytes: number): Promise<number> {
  const t0 = performance.now()
  await new Promise<void>((resolve, reject) => {
    let got = 0
    const s = connect(port, '127.0.0.1')
    s.on('data', (d) => { got += d.length })
    s.on('end', () => { got === bytes ? resolve() : reject(new Error(`raw pipe: ${got} of ${bytes} bytes`)) })
    s.on('error', reject)
  })
  return performance.now() - t0
}

async function fetchBench (ctx: BenchContext): Promise<BenchResult> {
  const root = await mkdtemp(join(tmpdir(), 'aas-bench-fetch-'))
  let provider: ChildNode | undefined
  let fetcher: AasNode | undefined
  let raw: { port: number, stop: () => void } | undefined
  try {
    const author = await createAuthorKey(join(root, 'author.key'))
    const skill = join(root, 'big-skill')
    await mkdir(skill)
    await writeFile(join(skill, 'skill.json'), JSON.stringify({ name: 'big-data', version: '1.0.0', description: 'benchmark payload', runtime: 'sh', entrypoint: 'run.sh' }))
    await writeFile(join(skill, 'run.sh'), 'echo {}\n')
    await writeFile(join(skill, 'a.bin'), randomBytes(FILE_BYTES))
    await writeFile(join(skill, 'b.bin'), randomBytes(FILE_BYTES))
    const packed = await packSkill(skill)
    const release = await signRelease(author.privateKey, { name: 'big-data', version: '1.0.0', cid: packed.cid.toString(), size: packed.size, publishedAt: Date.now(), manifestDigest: manifestDigest(packed.manifest) })

    const team = await LocalTeam.create(join(root, 'team'), 'bench')
    provider = new ChildNode({ dataDir: join(root, 'provider'), listen: '/ip4/127.0.0.1/tcp/0', api: '127.0.0.1:0', bootstrap: [], logLevel: 'warn', args: ['--trust-author', author.publicKey, '--slots', '0', ...await team.nodeArgs(join(root, 'provider'))] })
    const info = await provider.started()
    const res = await fetch(`${info.api}/v1/skills/publish`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ release, manifest: packed.manifest, bundle: Buffer.from(packed.bytes).toString('base64') }) })
    if (!res.ok) throw new Error(`publish to the provider failed: ${await res.text()}`)

    const config = await resolveConfig({ env: {}, flags: { dataDir: join(root, 'fetcher'), listen: ['/ip4/127.0.0.1/tcp/0'], api: '127.0.0.1:0', bootstrap: [info.addresses[0]], logLevel: 'silent', tasks: { slots: 0 }, trust: { authors: [author.publicKey] }, team: await team.nodeConfig(join(root, 'fetcher')) } })
    fetcher = new AasNode({ config, processMetrics: false })
    await fetcher.start()
    const providerId = peerIdFromString(info.peerId)
    const until = Date.now() + 30_000
    while (fetcher.host.getConnections(providerId).length === 0) {
      if (Date.now() > until) throw new Error('fetcher did not connect to the provider')
      await new Promise(resolve => setTimeout(resolve, 100))
    }
    // bundles are served to members only: the provider must have heard the fetcher's hello
    const self = fetcher.host.peerId.toString()
    for (;;) {
      const res = await fetch(`${info.api}/v1/mesh`).then(async r => await r.json() as { peers: Array<{ peerId: string }> }).catch(() => ({ peers: [] }))
      if (res.peers.some(p => p.peerId === self)) break
      if (Date.now() > until) throw new Error('the provider did not hear the fetcher\'s hello')
      await fetcher.mesh.sayHello()
      await new Promise(resolve => setTimeout(resolve, 200))
    }
    raw = await rawSender(packed.size)
    const cid = packed.cid.toString()
    const node = fetcher
    const bundles = new BundleFetcher({ host: node.host, blobs: node.blobs }, { maxBytes: 32 * MB, timeoutMs: 60_000, stallMs: 10_000 })
    const subject = async (): Promise<number> => {
      await node.blobs.delete(cid)
      const t0 = performance.now()
      await bundles.fetchFrom(providerId, cid, { size: packed.size })
      return packed.size / MB / ((performance.now() - t0) / 1000)
    }
    const port = raw.port
    const baseline = async (): Promise<number> => packed.size / MB / (await rawReceive(port, packed.size) / 1000)
    ctx.log(`bundle-fetch: ${(packed.size / MB).toFixed(2)} MiB bundle, provider in its own process; ${ctx.warmup} warm-up + ${ctx.rounds} rounds`)
    const m = await measurePair(ctx, subject, baseline)
    return { name: 'bundle-fetch-16mib', unit: 'MiB/s', samples: m.samples, baseline: m.baseline, extra: { bytes: packed.size, baselineIs: 'raw TCP pipe between two Node.js processes' } }
  } finally {
    raw?.stop()
    await fetcher?.stop().catch(() => {})
    await provider?.stop().catch(() => {})
    await rmTree(root)
  }
}

async function hashBench (ctx: BenchContext): Promise<BenchResult> {
  const buf = randomBytes(16 * MB)
  const CHUNK = 64 * 1024
  const subject = async (): Promise<number> => {
    const t0 = performance.now()
    const h = new BundleHasher()
    for (let at = 0; at < buf.length; at += CHUNK) h.update(buf.subarray(at, at + CHUNK))
    h.cid()
    return 16 / ((performance.now() - t0) / 1000)
  }
  const baseline = async (): Promise<number> => {
    const t0 = performance.now()
    createHash('sha256').update(buf).digest()
    return 16 / ((performance.now() - t0) / 1000)
  }
  const m = await measurePair(ctx, subject, baseline)
  return { name: 'bundle-hash', unit: 'MiB/s', samples: m.samples, baseline: m.baseline, extra: { baselineIs: 'node:crypto sha256 of the whole buffer' } }
}

const benchmark: Benchmark = {
  name: 'bundle-fetch',
  description: 'fetch throughput of a 16 MiB bundle between two nodes vs a raw TCP pipe; CID hashing vs node:crypto sha256',
  async run (ctx) {
    return [await fetchBench(ctx), await hashBench(ctx)]
  }
}

export default benchmark
