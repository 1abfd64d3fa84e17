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
  dialTimeoutS: Type.Integer({ minimum: 1, maximum: 300 }),
  /** Peers heard of through hellos that the node remembers; past it the least recently heard is forgotten. */
  maxKnownPeers: Type.Integer({ minimum: 10, maximum: 1_000_000 })
}, { additionalProperties: false })

const Limits = (max: { memoryMB: number, cpus: number, pids: number, timeoutS: number }) => Type.Object({
  memoryMB: Type.Integer({ minimum: 16, maximum: max.memoryMB }),
  cpus: Type.Number({ exclusiveMinimum: 0, maximum: max.cpus }),
  pids: Type.Integer({ minimum: 4, maximum: max.pids }),
  timeoutS: Type.Integer({ minimum: 1, maximum: max.timeoutS })
}, { additionalProperties: false })
const SandboxLimitsSchema = Limits({ memoryMB: 65_536, cpus: 256, pids: 65_536, timeoutS: 86_400 })

/** The node's sandbox policy (skills/sandbox): what a skill's manifest may ask for, at most. */
export const SandboxConfigSchema = Type.Object({
  /** Limits of a skill that asks for none. */
  defaults: SandboxLimitsSchema,
  /** Caps on what a manifest or a caller may ask. */
  max: SandboxLimitsSchema,
  /** Runtime → image; any image with the interpreter at the same path works. */
  images: Type.Object({
    python3: Type.String({ minLength: 1 }),
    node: Type.String({ minLength: 1 }),
    sh: Type.String({ minLength: 1 })
  }, { additionalProperties: false }),
  /** Largest result JSON on stdout; past it the run is killed. */
  maxStdoutBytes: Type.Integer({ minimum: 1024, maximum: 256 * 1024 * 1024 }),
  /** Largest input JSON. */
  maxInputBytes: Type.Integer({ minimum: 1024, maximum: 256 * 1024 * 1024 }),
  /** Size of the /tmp tmpfs. */
  tmpMB: Type.Integer({ minimum: 1, maximum: 65_536 }),
  /** Run even where the host cannot enforce limits (rootless Podman on cgroup v1). */
  allowUnenforcedLimits: Type.Boolean(),
  /** The cgroup each run gets its own cgroup under (e.g. the sandboxes' systemd slice). */
  cgroupParent: Type.String({ pattern: '^(/[A-Za-z0-9_.-]+)+$', not: { pattern: '(^|/)\\.\\.?(/|$)' }, maxLength: 256 })
}, { additionalProperties: false })

export const SkillsConfigSchema = Type.Object({
  /** Largest bundle this node stores, fetches or serves. */
  maxBundleBytes: Type.Integer({ minimum: 1024, maximum: 1024 * 1024 * 1024 }),
  /** A fetch from one provider that takes longer is abandoned for the next provider. */
  fetchTimeoutS: Type.Integer({ minimum: 1, maximum: 3_600 }),
  /** A provider that sends nothing for this long is abandoned. */
  fetchStallS: Type.Integer({ minimum: 1, maximum: 600 })
}, { additionalProperties: false })

/** The task lifecycle (node/tasks). */
export const TasksConfigSchema = Type.Object({
  /** Tasks this node executes at once (0: it only originates tasks). Default: the CPU count. */
  slots: Type.Integer({ minimum: 0, maximum: 1024 }),
  /** An executor that does not renew within this is presumed lost; the task is offered again. */
  leaseS: Type.Integer({ minimum: 2, maximum: 3_600 }),
  /** How long the origin collects bids after the first one before it assigns. */
  bidWindowMs: Type.Integer({ minimum: 0, maximum: 10_000 }),
  /** An offer nobody claimed is gossiped again after this long. */
  reofferS: Type.Integer({ minimum: 1, maximum: 3_600 }),
  /** Defaults of a submission that does not say. */
  defaultTimeoutS: Type.Integer({ minimum: 1, maximum: 86_400 }),
  defaultAttempts: Type.Integer({ minimum: 1, maximum: 20 }),
  /** This node's executor tier: it runs offers of this tier and below; a failed task climbs to a higher one. */
  tier: Type.Integer({ minimum: 0, maximum: 9 })
}, { additionalProperties: false })

/** The SelfImprover (node/improve): each rule can be turned off. */
export const ImproverConfigSchema = Type.Object({
  /** Answer an input identical to one a reviewer resolved with "reuse" from memory. */
  reuse: Type.Boolean(),
  /** Prefer executors with better recent success on a skill (a lower confidence bound); bids break ties. */
  routing: Type.Boolean(),
  /** Quarantine a release whose failure rate rises clearly above the previous one's; tasks get the previous good release. */
  quarantine: Type.Boolean(),
  /** Retry a recurring failure once with the fix a reviewer gave for it, before asking a person. */
  fixHints: Type.Boolean(),
  /** Share answers reviewers allowed to be reused with the team (its own topic), and adopt the team's. */
  shareAnswers: Type.Boolean(),
  /** What the MemoryEngine keeps: outcomes per release, input and executor. */
  memory: Type.Object({
    maxOutcomes: Type.Integer({ minimum: 100, maximum: 10_000_000 }),
    maxAgeDays: Type.Integer({ minimum: 1, maximum: 3650 })
  }, { additionalProperties: false })
}, { additionalProperties: false })

/** The human review queue (node/review). */
export const ReviewConfigSchema = Type.Object({
  /** How long a reviewer's claim holds a task. */
  holdS: Type.Integer({ minimum: 30, maximum: 86_400 })
}, { additionalProperties: false })

/** The audit trail (node/audit). */
export const AuditConfigSchema = Type.Object({
  /** Sign a checkpoint {node, seq, headHash} after this many new entries… */
  checkpointEvery: Type.Integer({ minimum: 1, maximum: 1_000_000 }),
  /** …or this many seconds after the last one, when there are new entries. */
  checkpointIntervalS: Type.Integer({ minimum: 1, maximum: 86_400 })
}, { additionalProperties: false })

/** People's logins (node/auth, node/api/auth-routes.ts). */
export const AuthConfigSchema = Type.Object({
  /** A login session ends this long after it began. */
  sessionTtlS: Type.Integer({ minimum: 60, maximum: 30 * 86_400 }),
  /** Mark the session cookie Secure: set it when people reach the node through TLS (a proxy). */
  secureCookies: Type.Boolean(),
  /** Login requests one address may make a minute, right or wrong. */
  loginPerMinute: Type.Integer({ minimum: 1, maximum: 10_000 })
}, { additionalProperties: false })

/** Whose skill releases this node indexes, fetches and runs (federation/trust.ts). */
export const TrustConfigSchema = Type.Object({
  /** Author public keys (z6Mk…, as `aas keys show` prints). */
  authors: Type.Array(Type.String({ pattern: '^z[1-9A-HJ-NP-Za-km-z]{40,60}$' }), { maxItems: 10_000 })
}, { additionalProperties: false })

/** The node's team (federation/): its descriptor and this node's membership certificate. */
export const TeamConfigSchema = Type.Object({
  /** Path of the team's `team.json` ("" : no team, a team of one that accepts nothing from peers). */
  descriptor: Type.String({ maxLength: 4096 }),
  /** Path of this node's certificate file (`aas team admit <node id> --out FILE`). */
  certificate: Type.String({ maxLength: 4096 })
}, { additionalProperties: false })

/** Partner teams and what each may do here. */
export const FederationConfigSchema = Type.Object({
  partners: Type.Array(Type.Object({
    name: Type.String({ pattern: '^[a-z0-9][a-z0-9._-]{0,62}$' }),
    rootKey: Type.String({ pattern: '^z[1-9A-HJ-NP-Za-km-z]{40,60}$' }),
    grants: Type.Array(Type.Union(['execute', 'publish', 'trust-authors'].map(g => Type.Literal(g))), { maxItems: 3, uniqueItems: true })
  }, { additionalProperties: false }), { maxItems: 1000 })
}, { additionalProperties: false })

export const NodeConfigSchema = Type.Object({
  /** Where the node keeps its identity, database and blobs. */
  dataDir: Type.String({ minLength: 1 }),
  /** libp2p listen multiaddrs. */
  listen: Type.Array(Type.String({ minLength: 1 }), { maxItems: 32 }),
  /** Multiaddrs of peers to join the mesh through (with or without /p2p/<peerId>). */
  bootstrap: Type.Array(Type.String({ minLength: 1 }), { maxItems: 256 }),
  /** HOST:PORT of the HTTP API. Loopback by default; beyond loopback every request needs the node's api.token. */
  api: Type.String({ minLength: 1 }),
  /** Host names the API answers to besides IP addresses, localhost and its bound name (no DNS rebinding). */
  apiAllowedHosts: Type.Array(Type.String({ pattern: '^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$' }), { maxItems: 64 }),
  logLevel: LogLevel,
  gossip: GossipConfigSchema,
  mesh: MeshConfigSchema,
  sandbox: SandboxConfigSchema,
  skills: SkillsConfigSchema,
  tasks: TasksConfigSchema,
  trust: TrustConfigSchema,
  team: TeamConfigSchema,
  federation: FederationConfigSchema,
  audit: AuditConfigSchema,
  review: ReviewConfigSchema,
  improver: ImproverConfigSchema,
  auth: AuthConfigSchema
}, { additionalProperties: false })

export type NodeConfig = Static<typeof NodeConfigSchema>
export type GossipConfig = Static<typeof GossipConfigSchema>
export type MeshConfig = Static<typeof MeshConfigSchema>
export type SandboxConfig = Static<typeof SandboxConfigSchema>
