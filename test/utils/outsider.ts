import { multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { decodeCanonical, decodeEnvelope, encodeCanonical, sealEnvelope, type TaskOfferBody } from '../../protocol/index.js'
import { rpcCall, rpcServe } from '../../node/p2p/rpc.js'
import { readCertificate } from '../../node/team/files.js'
import { createRawPeer, type RawPeer } from './raw-peer.js'
import { waitFor } from './cli-node.js'

/**
 * An attacker (or a misbehaving member) for integration tests: a raw libp2p peer — gossipsub,
 * no AAS validation — with its own ed25519 key and, if given, a membership certificate it puts
 * in every envelope it signs. It publishes whatever it is told on any topic, calls any stream
 * protocol with a signed request, and keeps the task offers it hears (that is how an outsider
 * subscribed to a team topic learns real task ids).
 */
export class Outsider {
  /** Offers heard on any topic, by task id (the last one of each). */
  readonly offers = new Map<string, TaskOfferBody>()
  /** Every gossip message heard, by topic: [type, sender peer id]. */
  readonly heard: Array<{ topic: string, type: string }> = []

  private constructor (readonly key: PrivateKey, readonly peer: RawPeer, readonly cert: Uint8Array | undefined) {
    peer.services.pubsub.addEventListener('message', (evt) => {
      const msg = evt.detail
      try {
        const env = decodeEnvelope(msg.data)
        this.heard.push({ topic: msg.topic, type: env.type })
        if (env.type === 'task-offer') {
          const body = env.body as TaskOfferBody
          this.offers.set(body.taskId, body)
        }
      } catch { /* not an envelope */ }
    })
  }

  /** A raw peer with a new key (or `key`), presenting the certificate in `certFile` if any. */
  static async create (opts: { key?: PrivateKey, certFile?: string } = {}): Promise<Outsider> {
    const key = opts.key ?? await generateKeyPair('Ed25519')
    const cert = opts.certFile != null ? (await readCertificate(opts.certFile)).bytes : undefined
    return new Outsider(key, await createRawPeer(key), cert)
  }

  get peerId (): string { return this.peer.peerId.toString() }

  /** Dials a node and subscribes to `topics`, waiting until the node is seen on the first one. */
  async join (address: string, nodePeerId: string, topics: string[]): Promise<void> {
    for (const t of topics) this.peer.services.pubsub.subscribe(t)
    // libp2p refuses inbound connections from one address past a few a second: dial again, as an attacker would
    await waitFor(async () => await this.peer.dial(multiaddr(address)).then(() => true, () => false), `${this.peerId} connected to ${nodePeerId}`, 15_000, 300)
    await waitFor(() => this.peer.services.pubsub.getSubscribers(topics[0]).some(p => p.toString() === nodePeerId), `${nodePeerId} on ${topics[0]} as seen by ${this.peerId}`, 15_000, 50)
  }

  /** An envelope of `type` signed by this peer's key, with its certificate. */
  async seal (type: string, body: unknown, now?: number): Promise<Uint8Array> {
    return await sealEnvelope(this.key, type, body, { ...(now != null ? { now } : {}), ...(this.cert != null ? { cert: this.cert } : {}) })
  }

  async publish (topic: string, type: string, body: unknown): Promise<void> {
    await this.peer.services.pubsub.publish(topic, await this.seal(type, body))
  }

  /** One signed request over a stream protocol; the node's answer, decoded. */
  async call (nodePeerId: string, protocol: string, type: string, body: unknown): Promise<any> {
    return await this.send(nodePeerId, protocol, await this.seal(type, body))
  }

  /** Sends `envelope` (signed by anyone) over a stream protocol from this peer: a relayed request. */
  async send (nodePeerId: string, protocol: string, envelope: Uint8Array): Promise<any> {
    return decodeCanonical(await rpcCall(this.peer, peerIdFromString(nodePeerId), protocol, envelope, { maxResponseBytes: 4 * 1024 * 1024, timeoutMs: 30_000 }))
  }

  /** Serves a stream protocol with `answer` (an outsider posing as an origin). */
  async serve (protocol: string, answer: (request: any, from: string) => Promise<unknown> | unknown): Promise<void> {
    await rpcServe(this.peer, protocol, 4 * 1024 * 1024, async (req, from) => encodeCanonical(await answer(decodeCanonical(req), from.toString()) as any))
  }

  async stop (): Promise<void> {
    await this.peer.stop()
  }
}

/** Every sample of a Prometheus metric in `text`: its labels and value. */
export function samples (text: string, name: string): Array<{ labels: Record<string, string>, value: number }> {
  const out: Array<{ labels: Record<string, string>, value: number }> = []
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (m == null || m[1] !== name) continue
    const labels: Record<string, string> = {}
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2]
    out.push({ labels, value: Number(m[3]) })
  }
  return out
}

/** The sum of a metric's samples whose labels include `labels`. */
export function metricSum (text: string, name: string, labels: Record<string, string> = {}): number {
  return samples(text, name).filter(s => Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((n, s) => n + s.value, 0)
}

export async function metricsOf (api: string): Promise<string> {
  return await (await fetch(`${api}/metrics`, { signal: AbortSignal.timeout(10_000) })).text()
}
