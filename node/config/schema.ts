import { Type, type Static } from '@sinclair/typebox'

/**
 * The node's configuration: one schema (TypeBox → JSON Schema, checked with ajv) that gives
 * both the TypeScript type and the validation, so the two cannot drift apart.
 */
const LogLevel = Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map(l => Type.Literal(l)))

export const GossipConfigSchema = Type.Object({
  /** Messages older than this are refused as stale. */
  maxAgeS: Type.Integer({ minimum: 1, maximum: 86_400 }),
  /** How far a sender's clock may run ahead of ours. */
  maxFutureS: Type.Integer({ minimum: 0, maximum: 3_600 }),
  /** Every this many seconds the node gossips a hello (0 = only at start). */
  helloIntervalS: Type.Integer({ minimum: 0, maximum: 3_600 })
}, { additionalProperties: false })

export const MeshConfigSchema = Type.Object({
  /** Below this many connections the node dials peers it hears of through hellos. */
  targetPeers: Type.Integer({ minimum: 0, maximum: 1_000 }),
  /** Connections above this are refused or pruned by libp2p. */
  maxConnections: Type.Integer({ minimum: 1, maximum: 10_000 }),
  /** How often lost bootstrap peers are dialled again. */
  redialIntervalS: Type.Integer({ minimum: 1, maximum: 3_600 }),
  dialTimeoutS: Type.Integer({ minimum: 1, maximum: 300 })
}, { additionalProperties: false })

export const NodeConfigSchema = Type.Object({
  /** Where the node keeps its identity, database and blobs. */
  dataDir: Type.String({ minLength: 1 }),
  /** libp2p listen multiaddrs. */
  listen: Type.Array(Type.String({ minLength: 1 }), { maxItems: 32 }),
  /** Multiaddrs of peers to join the mesh through (with or without /p2p/<peerId>). */
  bootstrap: Type.Array(Type.String({ minLength: 1 }), { maxItems: 256 }),
  /** HOST:PORT of the HTTP API. Loopback by default: it is not authenticated. */
  api: Type.String({ minLength: 1 }),
  logLevel: LogLevel,
  gossip: GossipConfigSchema,
  mesh: MeshConfigSchema
}, { additionalProperties: false })

export type NodeConfig = Static<typeof NodeConfigSchema>
export type GossipConfig = Static<typeof GossipConfigSchema>
export type MeshConfig = Static<typeof MeshConfigSchema>
