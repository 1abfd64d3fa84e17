import type { FastifyInstance } from 'fastify'
import type { Registry } from 'prom-client'
import type { Host } from '../p2p/host.js'
import type { MeshKeeper } from '../mesh/index.js'
import { VERSION } from '../version.js'

/** What `GET /v1/node` answers (and `aas node status` prints). */
export interface NodeInfo {
  peerId: string
  addresses: string[]
  peers: string[]
  topics: string[]
  version: string
  uptimeS: number
  /** Peers heard from through hello gossip (connected or not). */
  knownPeers: number
}

export interface NodeRoutesComponents {
  host: Host
  mesh: MeshKeeper
  registry: Registry
  startedAt: number
}

export function nodeInfo (c: NodeRoutesComponents): NodeInfo {
  const peerId = c.host.peerId.toString()
  return {
    peerId,
    addresses: c.host.getMultiaddrs().map(a => a.toString()),
    peers: c.host.getPeers().map(p => p.toString()),
    topics: c.host.services.pubsub.getTopics(),
    version: VERSION,
    uptimeS: Math.round((Date.now() - c.startedAt) / 1000),
    knownPeers: c.mesh.knownPeers().length
  }
}

/** /healthz, /metrics, /v1/node, /v1/mesh, /v1/peers and POST /v1/hello. */
export function nodeRoutes (c: NodeRoutesComponents) {
  return (app: FastifyInstance): void => {
    // answers "up" and nothing else: a load balancer asks it without the API token (access.ts)
    app.get('/healthz', { config: { access: 'public' } }, async () => ({ status: 'ok' }))
    app.get('/metrics', async (_req, reply) => {
      const body = await c.registry.metrics()
      return reply.type(c.registry.contentType).send(body)
    })
    app.get('/v1/node', async () => nodeInfo(c))
    app.get('/v1/mesh', async () => ({ peers: c.mesh.knownPeers() }))
    app.get('/v1/peers', async () => {
      const pubsub = c.host.services.pubsub as unknown as { getScore: (peer: string) => number }
      return {
        peers: c.host.getConnections().map(conn => ({
          peerId: conn.remotePeer.toString(),
          addr: conn.remoteAddr.toString(),
          direction: conn.direction,
          gossipScore: pubsub.getScore(conn.remotePeer.toString())
        }))
      }
    })
    app.post('/v1/hello', async () => ({ seq: await c.mesh.sayHello() }))
  }
}
