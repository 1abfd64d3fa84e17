import { expect } from 'chai'
import { spawnSync } from 'node:child_process'
import { startCliNode, getJson, waitFor, type CliNode } from '../../utils/cli-node.js'

/**
 * Five nodes, each a separate `aas node start` process on loopback TCP with its own LevelDB,
 * all bootstrapped to the first one only: they must find each other through hello gossip,
 * and a message one publishes must reach every other.
 */
describe('mesh of five CLI nodes', function () {
  this.timeout(120_000)
  const nodes: CliNode[] = []

  before(async () => {
    nodes.push(await startCliNode())
    const seed = nodes[0].addresses[0]
    const rest = await Promise.all([1, 2, 3, 4].map(async () => await startCliNode({ bootstrap: [seed] })))
    nodes.push(...rest)
  })

  after(async () => {
    await Promise.all(nodes.map(async n => await n.stop()))
  })

  it('every node holds at least 2 peers within 10 s', async () => {
    for (const n of nodes) {
      await waitFor(async () => {
        const info = await getJson(`${n.api}/v1/node`)
        return info.peers.length >= 2 ? info : undefined
      }, `${n.peerId} to reach 2 peers`, 10_000)
    }
    const info = await getJson(`${nodes[1].api}/v1/node`)
    expect(info.peerId).to.equal(nodes[1].peerId)
    expect(info.topics).to.include('/aas/1/hello')
    expect(info.addresses.every((a: string) => a.endsWith(`/p2p/${nodes[1].peerId}`))).to.equal(true)
    expect(info.version).to.be.a('string')
    expect(info.uptimeS).to.be.a('number')
  })

  it('a message gossiped by one node reaches all the others', async () => {
    const from = nodes[3]
    const { seq } = await getJson(`${from.api}/v1/hello`, { method: 'POST' })
    for (const n of nodes.filter(x => x !== from)) {
      await waitFor(async () => {
        const mesh = await getJson(`${n.api}/v1/mesh`)
        const entry = mesh.peers.find((p: any) => p.peerId === from.peerId)
        return entry != null && entry.seq >= seq
      }, `hello ${seq} from ${from.peerId} at ${n.peerId}`, 10_000)
    }
  })

  it('serves Prometheus metrics that promtool accepts', async () => {
    const res = await fetch(`${nodes[0].api}/metrics`)
    expect(res.headers.get('content-type')).to.match(/^text\/plain/)
    const text = await res.text()
    expect(text).to.match(/^aas_peers [1-9]/m)
    expect(text).to.match(/^aas_gossip_messages_total\{topic="\/aas\/1\/hello",result="accept",reason="ok"\} [1-9]/m)
    expect(text).to.match(/^process_resident_memory_bytes /m)
    const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' })
    expect(check.error, 'promtool (Debian package prometheus) must be installed').to.equal(undefined)
    // promtool exits 0 for valid text; lint findings (exit 3) are style hints, parse errors exit 1
    expect(check.status, check.stderr + check.stdout).to.be.oneOf([0, 3])
    // the only lint findings allowed are prom-client's own default metric names
    const findings = (check.stdout + check.stderr).split('\n').filter(l => l.trim() !== '')
    expect(findings.filter(l => !l.startsWith('nodejs_')), findings.join('\n')).to.deep.equal([])
  })

  it('stops on SIGTERM with exit code 0', async () => {
    const last = nodes.pop()!
    expect(await last.stop()).to.equal(0)
  })
})
