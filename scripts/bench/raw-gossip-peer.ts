import '../../node/shim.js'
import { createInterface } from 'node:readline'
import { performance } from 'node:perf_hooks'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { createHost, defaultMaxGossipFrameBytes } from '../../node/p2p/host.js'

/**
 * A bare gossip peer in its own process, the baseline of the process-mesh benchmarks
 * (raw-gossip.ts): the node's own libp2p host (node/p2p/host.ts: TCP, noise, yamux,
 * gossipsub with the node's heartbeat, scoring and StrictSign) and nothing of AAS on top
 * (no envelope, no membership certificate, no validators, no handlers).
 *
 * Line protocol: prints `{"addr": …}` once listening; on stdin `dial ADDR` connects,
 * `pub BYTES` publishes a message of BYTES bytes that starts with the wall-clock time (ms,
 * float64); `mesh` answers `mesh N` (gossipsub mesh peers on the topic). Each message
 * received prints `recv DELAY_MS`: this process's receive time minus the sender's stamp
 * (one clock: both processes run on one machine).
 */
const TOPIC = '/aas-bench/raw/1'
const wall = (): number => performance.timeOrigin + performance.now()

const host = await createHost({
  privateKey: await generateKeyPair('Ed25519'),
  listen: ['/ip4/127.0.0.1/tcp/0'],
  bootstrap: [],
  topics: [TOPIC],
  maxConnections: 16,
  maxGossipFrameBytes: defaultMaxGossipFrameBytes,
  dialTimeoutMs: 5_000
})
await host.start()
const pubsub = host.services.pubsub
pubsub.subscribe(TOPIC)
pubsub.addEventListener('message', (evt) => {
  const at = wall()
  const data = evt.detail.data
  const sent = new DataView(data.buffer, data.byteOffset, 8).getFloat64(0)
  process.stdout.write(`recv ${(at - sent).toFixed(3)}\n`)
})
process.stdout.write(JSON.stringify({ addr: host.getMultiaddrs()[0].toString() }) + '\n')

for await (const line of createInterface({ input: process.stdin })) {
  const [cmd, arg] = line.trim().split(/\s+/)
  try {
    if (cmd === 'dial') {
      await host.dial(multiaddr(arg))
      process.stdout.write('dialled\n')
    } else if (cmd === 'pub') {
      const data = new Uint8Array(Math.max(8, Number(arg)))
      new DataView(data.buffer).setFloat64(0, wall())
      await pubsub.publish(TOPIC, data)
    } else if (cmd === 'mesh') {
      process.stdout.write(`mesh ${(pubsub as unknown as { getMeshPeers: (t: string) => string[] }).getMeshPeers(TOPIC).length}\n`)
    }
  } catch (err: any) {
    process.stdout.write(`error ${String(err?.message ?? err)}\n`)
  }
}
await host.stop()
