import { createServer } from 'node:net'
import { join } from 'node:path'
import { unlink } from 'node:fs/promises'
import type { PrivateKey } from '@libp2p/interface'
import type { LevelWithSilent } from 'pino'
import { defaultRegistry, GossipAction, GossipActionError, parsePublicKeyText, teamTopic, type MessageRegistry, type RejectCode } from '../protocol/index.js'
import type { NodeConfig } from './config/index.js'
import { prepareDataDir, writeFileAtomic } from './fs-util.js'
import { loadOrCreateIdentity } from './identity.js'
import { NodeStore } from './store/index.js'
import { createMetrics, type Metrics } from './metrics.js'
import { sandboxRunMetrics } from './sandbox-metrics.js'
import { createLogger, type Logger } from './log.js'
import { createHost, defaultMaxGossipFrameBytes, type Host } from './p2p/host.js'
import { setStreamLimiter, StreamLimiter } from './p2p/stream-limits.js'
import { GossipRouter } from './gossip/index.js'
import { MeshKeeper } from './mesh/index.js'
import { ApiServer, teamRoutes, auditRoutes, authRoutes, nodeRoutes, memoryRoutes, nodeInfo, reviewPages, reviewRoutes, skillRoutes, taskRoutes, userRoutes, type NodeInfo } from './api/index.js'
import { Auth, ensureApiToken, readApiToken, removeApiToken } from './auth/index.js'
import { Bucket } from './store/index.js'
import { BlobStore } from '../skills/store/index.js'
import { TrustPolicy } from '../federation/index.js'
import { SkillIndex } from '../skills/index/index.js'
import { SkillService } from './skills/index.js'
import { SandboxRunner } from '../skills/sandbox/index.js'
import {
  announcer, memoryRecorder, MemoryEngine, OriginClient, OriginEndpoint, TaskExecutor, TaskOrigin, TaskService,
  TaskStateMachine, TaskStore, TaskWatchers, taskMetrics
} from './tasks/index.js'
import { ListenError } from './errors.js'
import { Signer } from './signer.js'
import { ReviewQueue } from './review/index.js'
import { AnswerSharing, ExecutorRecords, FixHints, LearnedAnswers, Quarantine, SelfImprover } from './improve/index.js'
import { VERSION } from './version.js'
import { AuditLog, RejectAuditor } from './audit/index.js'
import { configDigest } from './config/index.js'
import { Membership, MembershipError, type Grant } from '../federation/index.js'
import { authorizer } from './team/authorize.js'
import { joinTeam } from './team/join.js'
import { TeamService } from './team/service.js'

/**
 * The composition root (Lodestar `node/nodejs.ts`): builds the node's parts in dependency
 * order, starts them, and stops them in reverse. A failed start undoes what it did, so the
 * data dir is left as it was found (apart from a newly created identity).
 */
export type NodeStatus = 'idle' | 'starting' | 'started' | 'stopping' | 'stopped'

export interface AasNodeInit {
  config: NodeConfig
  log?: Logger
  /** Collect Node.js process metrics (off when several nodes share a process). */
  processMetrics?: boolean
}

/** Written to the data dir while the node runs, so local commands can find its API. */
export const RUNTIME_FILE = 'node.json'

export interface RuntimeInfo {
  pid: number
  peerId: string
  api: string
  addresses: string[]
  startedAt: string
}

export class AasNode {
  readonly config: NodeConfig
  readonly log: Logger
  readonly metrics: Metrics
  registry: MessageRegistry
  status: NodeStatus = 'idle'
  store!: NodeStore
  privateKey!: PrivateKey
  signer!: Signer
  audit!: AuditLog
  rejects!: RejectAuditor
  auth!: Auth
  host!: Host
  /** Per-peer stream rates (node/p2p/stream-limits.ts). */
  streams!: StreamLimiter
  gossip!: GossipRouter
  mesh!: MeshKeeper
  api!: ApiServer
  blobs!: BlobStore
  trust!: TrustPolicy
  skillIndex!: SkillIndex
  skills!: SkillService
  runner!: SandboxRunner
  memory!: MemoryEngine
  taskStore!: TaskStore
  taskState!: TaskStateMachine
  watchers!: TaskWatchers
  origin!: TaskOrigin
  endpoint!: OriginEndpoint
  review!: ReviewQueue
  answers!: LearnedAnswers
  improver!: SelfImprover
  executorRecords!: ExecutorRecords
  quarantine!: Quarantine
  fixHints!: FixHints
  executor!: TaskExecutor
  tasks!: TaskService
  membership!: Membership
  /** The team this node started in, with its roles (null: a team of one). */
  teamInfo: { name: string, roles: string[], expires: string } | null = null
  team!: TeamService
  private startedAt = 0
  /** One node in this process: Node.js and libp2p metrics are its to export. */
  private readonly processMetrics: boolean
  /** Undo steps of a (partial) start, run in reverse by stop. */
  private readonly closers: Array<() => Promise<void> | void> = []

  constructor (init: AasNodeInit) {
    this.config = init.config
    this.log = init.log ?? createLogger(init.config.logLevel as LevelWithSilent)
    this.processMetrics = init.processMetrics ?? true
    this.metrics = createMetrics({ defaults: this.processMetrics })
    this.registry = defaultRegistry()
  }

  async start (): Promise<RuntimeInfo> {
    if (this.status !== 'idle') throw new Error(`node cannot start from status ${this.status}`)
    this.status = 'starting'
    try {
      return await this.startParts()
    } catch (err) {
      await this.runClosers()
      this.status = 'stopped'
      throw err
    }
  }

  private async startParts (): Promise<RuntimeInfo> {
    const { config } = this
    await prepareDataDir(config.dataDir)

    this.store = new NodeStore(config.dataDir)
    await this.store.open()
    this.closers.push(async () => { await this.store.close() })

    this.privateKey = await loadOrCreateIdentity(config.dataDir)
    const joined = await joinTeam(config, this.privateKey.publicKey.raw)
    this.teamInfo = joined != null ? { name: joined.team.name, roles: joined.cert.roles, expires: new Date(joined.cert.expires).toISOString() } : null
    this.signer = new Signer(this.privateKey, joined != null ? { cert: joined.bytes } : {})
    this.membership = new Membership({
      self: this.privateKey.publicKey.raw,
      ...(joined != null ? { team: joined.team } : {}),
      partners: config.federation.partners.map(p => ({ team: { name: p.name, rootKey: p.rootKey }, grants: p.grants as Grant[] }))
    })
    const teamTopicName = this.membership.tag != null ? teamTopic(this.membership.tag) : undefined
    this.registry = defaultRegistry({ ...(teamTopicName != null ? { teamTopic: teamTopicName } : {}) })
    const authorize = authorizer(this.membership)
    this.audit = new AuditLog({ store: this.store, signer: this.signer, metrics: this.metrics, log: this.log.child({ part: 'audit' }) }, {
      checkpointEvery: config.audit.checkpointEvery,
      checkpointIntervalMs: config.audit.checkpointIntervalS * 1000
    })
    await this.audit.open()
    this.audit.start()
    this.closers.push(async () => { await this.audit.stop() })
    await this.audit.append({ action: 'config.loaded', subject: configDigest(config), details: { dataDir: config.dataDir, listen: config.listen, api: config.api, slots: config.tasks.slots, trustedAuthors: config.trust.authors.length } }, { sync: true })
    if (joined != null) {
      await this.audit.append({ action: 'team.joined', subject: joined.team.rootKey, details: { team: joined.team.name, roles: joined.cert.roles, serial: joined.cert.serial, expires: new Date(joined.cert.expires).toISOString(), partners: config.federation.partners.map(p => `${p.name}:${p.grants.join('+')}`) } })
    }
    this.rejects = new RejectAuditor({ audit: this.audit })
    this.rejects.start()
    this.closers.push(() => { this.rejects.stop() })
    this.auth = new Auth({ store: this.store, audit: this.audit, metrics: this.metrics, log: this.log.child({ part: 'auth' }) }, { sessionTtlMs: config.auth.sessionTtlS * 1000 })
    await this.auth.open()
    this.auth.start()
    this.closers.push(() => { this.auth.stop() })

    this.blobs = new BlobStore(config.dataDir)
    await this.blobs.open()
    this.trust = new TrustPolicy(config.trust.authors, (key) => this.membership.isRevoked(key))
    this.skillIndex = new SkillIndex({ store: this.store.sublevel(Bucket.skills), trust: this.trust })
    await this.skillIndex.load()

    this.host = await createHost({
      privateKey: this.privateKey,
      listen: config.listen,
      bootstrap: config.bootstrap,
      topics: this.registry.topics(),
      maxConnections: config.mesh.maxConnections,
      maxGossipFrameBytes: defaultMaxGossipFrameBytes,
      dialTimeoutMs: config.mesh.dialTimeoutS * 1000,
      // a revoked key's connections are dropped (team service) and stay dropped
      denyPeer: (peer) => this.membership.isRevokedPeer(peer),
      ...(this.processMetrics ? { metrics: { registry: this.metrics.registry, statfsLocation: config.dataDir } } : {})
    })
    // streams a second per peer on every request/response protocol, before any part serves one
    this.streams = new StreamLimiter({
      onCount: (protocol, reason) => { this.metrics.streamRefusals.inc({ protocol, reason }) },
      onRefused: (peer, reason, protocol) => { this.rejects.note(peer, reason, protocol) }
    })
    setStreamLimiter(this.host, this.streams)
    const log = this.log
    this.gossip = new GossipRouter(
      { pubsub: this.host.services.pubsub, signer: this.signer, registry: this.registry, metrics: this.metrics, log: log.child({ part: 'gossip' }), onRejected: (from, reason, topic) => { this.rejects.note(from, reason, topic) }, authorize },
      { freshness: { maxAgeMs: config.gossip.maxAgeS * 1000, maxFutureMs: config.gossip.maxFutureS * 1000 } }
    )
    this.mesh = new MeshKeeper(
      { host: this.host, gossip: this.gossip, log: log.child({ part: 'mesh' }), tier: () => this.executor?.tier },
      {
        bootstrap: config.bootstrap,
        targetPeers: config.mesh.targetPeers,
        redialIntervalMs: config.mesh.redialIntervalS * 1000,
        helloIntervalMs: config.gossip.helloIntervalS * 1000,
        dialTimeoutMs: config.mesh.dialTimeoutS * 1000,
        maxKnownPeers: config.mesh.maxKnownPeers
      }
    )
    this.skills = new SkillService(
      { isMember: (peer) => this.isMember(peer), certifyAuthor: async (author, cert) => { await this.certifyAuthor(author, cert) }, host: this.host, gossip: this.gossip, mesh: this.mesh, index: this.skillIndex, blobs: this.blobs, trust: this.trust, registry: this.registry, metrics: this.metrics, log: log.child({ part: 'skills' }), audit: this.audit, onRefused: (from, reason, channel) => { this.rejects.note(from, reason, channel) }, streams: this.streams },
      { maxBundleBytes: config.skills.maxBundleBytes, fetchTimeoutMs: config.skills.fetchTimeoutS * 1000, fetchStallMs: config.skills.fetchStallS * 1000 }
    )
    this.runner = new SandboxRunner({ ...config.sandbox }, { onRun: sandboxRunMetrics(this.metrics) })
    this.memory = new MemoryEngine(this.store.sublevel(Bucket.memory), Date.now, config.improver.memory)
    await this.memory.load()
    this.answers = new LearnedAnswers({ store: this.store, now: Date.now })
    this.executorRecords = new ExecutorRecords({ store: this.store })
    await this.executorRecords.load()
    this.quarantine = new Quarantine({ store: this.store, index: this.skillIndex, audit: this.audit, metrics: this.metrics, now: Date.now })
    await this.quarantine.load()
    this.fixHints = new FixHints({ store: this.store, audit: this.audit, metrics: this.metrics, now: Date.now })
    await this.fixHints.load()
    this.improver = new SelfImprover({ answers: this.answers, executors: this.executorRecords, quarantine: this.quarantine, fixes: this.fixHints, metrics: this.metrics }, config.improver)
    const self = this.host.peerId.toString()
    const now = Date.now
    const freshness = { maxAgeMs: config.gossip.maxAgeS * 1000, maxFutureMs: config.gossip.maxFutureS * 1000 }
    this.taskStore = new TaskStore(this.store.sublevel(Bucket.tasks))
    this.taskState = new TaskStateMachine({ self, store: this.taskStore, audit: this.audit, now })
    this.origin = new TaskOrigin(
      { self, selfKey: this.privateKey.publicKey.raw, store: this.taskStore, machine: this.taskState, index: this.skillIndex, gossip: this.gossip, metrics: this.metrics, log: log.child({ part: 'origin' }), now, tiers: () => this.knownTiers(), tierOf: (peer) => peer === self ? this.executor.tier : this.mesh.peer(peer)?.tier, hasReviewers: () => this.hasReviewers(), improver: this.improver },
      { leaseMs: config.tasks.leaseS * 1000, bidWindowMs: config.tasks.bidWindowMs, reofferMs: config.tasks.reofferS * 1000, defaultTimeoutS: config.tasks.defaultTimeoutS, defaultAttempts: config.tasks.defaultAttempts, sandbox: this.runner.options }
    )
    this.endpoint = new OriginEndpoint(
      { origin: this.origin, registry: this.registry, log: log.child({ part: 'origin' }), now, onRefused: (sender, reason, protocol) => { this.rejects.note(sender, reason, protocol) }, authorize, metrics: this.metrics },
      freshness
    )
    this.executor = new TaskExecutor(
      {
        self,
        client: new OriginClient({ self, signer: this.signer, host: this.host, mesh: this.mesh, local: this.endpoint }),
        skills: this.skills, runner: this.runner, trust: this.trust, db: this.store.sublevel(Bucket.executor), metrics: this.metrics, log: log.child({ part: 'executor' }), now
      },
      { slots: config.tasks.slots, renewMs: Math.max(500, Math.floor(config.tasks.leaseS * 1000 / 3)), tier: config.tasks.tier }
    )
    this.tasks = new TaskService({ ...(teamTopicName != null ? { teamTopic: teamTopicName } : {}), host: this.host, gossip: this.gossip, origin: this.origin, endpoint: this.endpoint, executor: this.executor })
    this.watchers = new TaskWatchers()
    this.taskState.on(announcer({ self, gossip: this.gossip, log: log.child({ part: 'origin' }), local: this.executor, ...(teamTopicName != null ? { teamTopic: teamTopicName } : {}) }))
    this.team = new TeamService({
      membership: this.membership, store: this.store, audit: this.audit, gossip: this.gossip, host: this.host, metrics: this.metrics, log: log.child({ part: 'team' }), now,
      onRevoked: async (peer) => {
        this.mesh.forget(peer)
        this.executor.onOriginRevoked(peer)
        await this.origin.revokeExecutor(peer)
      }
    }, { regossipMs: config.gossip.helloIntervalS * 1000 })
    await this.team.load()
    this.taskState.on(memoryRecorder(this.memory, log.child({ part: 'memory' })))
    this.taskState.on(this.watchers.listener)
    this.taskState.on(this.answers.listener)
    this.taskState.on(this.executorRecords.listener)
    this.taskState.on(this.quarantine.listener)
    this.taskState.on(this.fixHints.listener)
    this.review = new ReviewQueue({ origin: this.origin, store: this.taskStore, index: this.skillIndex, audit: this.audit, metrics: this.metrics, now }, { holdMs: config.review.holdS * 1000 })
    this.metrics.setReviewDepthSource(() => this.review.depth)
    this.metrics.setPeerSource(() => this.host.getPeers().length)

    try {
      await this.host.start()
    } catch (err: any) {
      await Promise.resolve(this.host.stop()).catch(() => {})
      throw await listenError(err, config.listen)
    }
    this.closers.push(async () => { await this.host.stop() })
    await this.skills.start()
    this.closers.push(async () => { await this.skills.stop() })
    if (config.tasks.slots > 0) {
      // a node without a working sandbox still originates tasks and serves skills
      await this.runner.start().catch((err) => {
        this.log.warn({ err: err.message }, 'sandbox unavailable: this node will not execute tasks (install podman and runc, then restart)')
        this.executor.disable()
      })
    }
    await this.tasks.start()
    this.closers.push(async () => { await this.tasks.stop() })
    await this.origin.start()
    this.taskState.on(taskMetrics(this.metrics, () => this.taskStore.open.values()))
    this.closers.push(() => { this.origin.stop() })
    await this.executor.start()
    this.closers.push(async () => { await this.executor.stop() })
    this.team.start()
    this.closers.push(() => { this.team.stop() })
    if (teamTopicName != null && config.improver.shareAnswers) {
      // the team learns together: answers reviewers allowed to be reused go to the team's topic
      const sharing = new AnswerSharing({ answers: this.answers, gossip: this.gossip, teamTopic: teamTopicName, metrics: this.metrics, log: log.child({ part: 'improve' }) })
      sharing.start()
      this.closers.push(() => { sharing.stop() })
    }
    this.gossip.start()
    this.closers.push(() => { this.gossip.stop() })
    this.mesh.start()
    this.closers.push(() => { this.mesh.stop() })

    this.startedAt = Date.now()
    // kept across restarts: remote clients and scrapers hold a copy (auth/api-token.ts)
    const hadToken = await readApiToken(config.dataDir) != null
    const apiToken = await ensureApiToken(config.dataDir)
    // a start that fails leaves the data dir as it found it: a token made for it goes again
    // (the stop after a good start keeps it: remote clients and scrapers hold copies)
    if (!hadToken) this.closers.push(async () => { if (this.status !== 'stopping') await removeApiToken(config.dataDir) })
    this.api = new ApiServer({
      listen: config.api,
      // refusals (a foreign Host, no token beyond loopback) are audited as auth.refused, flood-safely
      access: { token: apiToken, allowedHosts: config.apiAllowedHosts, onRefused: (who, code, route) => { this.auth.noteRefused(who, code, route) } }
    }, [
      authRoutes({ auth: this.auth }, { secureCookies: config.auth.secureCookies, loginPerMinute: config.auth.loginPerMinute }),
      userRoutes({ auth: this.auth, token: apiToken }),
      reviewRoutes({ review: this.review, auth: this.auth }),
      memoryRoutes({ answers: this.answers, auth: this.auth, audit: this.audit, quarantine: this.quarantine, fixes: this.fixHints, index: this.skillIndex }),
      reviewPages({ review: this.review, auth: this.auth, now }, { secureCookies: config.auth.secureCookies, loginPerMinute: config.auth.loginPerMinute }),
      auditRoutes({ audit: this.audit, db: this.store.sublevel(Bucket.audit) }),
      teamRoutes({ membership: this.membership, team: this.team, self: this.host.peerId.toString() }),
      nodeRoutes({ host: this.host, mesh: this.mesh, registry: this.metrics.registry, startedAt: this.startedAt }),
      skillRoutes({ skills: this.skills, index: this.skillIndex, maxBundleBytes: config.skills.maxBundleBytes, quarantine: this.quarantine }),
      taskRoutes({ origin: this.origin, watchers: this.watchers, executor: this.executor, store: this.taskStore, memory: this.memory, self: this.host.peerId.toString() })
    ])
    const api = await this.api.start().catch(async (err) => { await this.api.stop().catch(() => {}); throw err })
    this.closers.push(async () => { await this.api.stop() })

    const runtime: RuntimeInfo = {
      pid: process.pid,
      peerId: this.host.peerId.toString(),
      api,
      addresses: this.host.getMultiaddrs().map(a => a.toString()),
      startedAt: new Date(this.startedAt).toISOString()
    }
    const runtimeFile = join(config.dataDir, RUNTIME_FILE)
    await writeFileAtomic(runtimeFile, JSON.stringify(runtime, null, 2) + '\n', 0o644)
    this.closers.push(async () => { await unlink(runtimeFile).catch(() => {}) })
    await this.audit.append({ action: 'node.started', subject: runtime.peerId, details: { addresses: runtime.addresses, api, version: VERSION } }, { sync: true })
    this.status = 'started'
    // said once it is up (a start that fails says only why it failed, in one line)
    if (this.teamInfo == null) this.log.warn('no team (team.descriptor): this node is a team of one — it runs its own tasks and accepts nothing from peers; see "Teams and federation" in the README')
    this.log.info({ peerId: runtime.peerId, addresses: runtime.addresses, api }, 'node started')
    return runtime
  }

  /** Tiers of the executors this node knows of: its own, and those its peers announce in hellos. */
  private knownTiers (): number[] {
    const tiers = new Set<number>()
    if (this.executor.tier != null) tiers.add(this.executor.tier)
    for (const p of this.mesh.knownPeers()) if (p.tier != null) tiers.add(p.tier)
    return [...tiers]
  }

  /**
   * An author's certificate, checked as any message's (role `author`; a partner's needs the
   * `trust-authors` grant): the author is trusted from then on. Throws GossipActionError REJECT.
   */
  private async certifyAuthor (author: string, cert: string): Promise<void> {
    try {
      const m = await this.membership.require(parsePublicKeyText(author), new Uint8Array(Buffer.from(cert, 'base64url')), 'author', 'trust-authors')
      this.trust.certify(author, { name: m.team.name, own: m.own })
    } catch (err) {
      if (err instanceof MembershipError) {
        this.metrics.membershipRefusals.inc({ channel: 'release', reason: err.reason })
        // an author of a team this node does not trust is this node's policy, not the relayer's fault
        const policy = err.reason === 'not-granted' || err.reason === 'unknown-team'
        throw new GossipActionError(policy ? GossipAction.IGNORE : GossipAction.REJECT, err.reason as unknown as RejectCode, err.message)
      }
      throw err
    }
  }

  /** A peer this node has heard a valid hello from (a member of its team or a partner's), not revoked. */
  isMember (peer: string): boolean {
    return this.mesh.isMember(peer) && !this.membership.isRevokedPeer(peer)
  }

  /** Whether a person here may review (then a submission's `onFailure` defaults to review). */
  private hasReviewers (): boolean {
    return this.auth.hasRole('reviewer')
  }

  info (): NodeInfo {
    return nodeInfo({ host: this.host, mesh: this.mesh, registry: this.metrics.registry, startedAt: this.startedAt })
  }

  async stop (): Promise<void> {
    if (this.status === 'stopped' || this.status === 'stopping' || this.status === 'idle') return
    this.status = 'stopping'
    await this.audit.append({ action: 'node.stopped', subject: this.signer.peerId }, { sync: true }).catch((err) => { this.log.warn({ err }, 'could not audit the stop') })
    await this.runClosers()
    this.status = 'stopped'
    this.log.info('node stopped')
  }

  private async runClosers (): Promise<void> {
    while (this.closers.length > 0) {
      const close = this.closers.pop()!
      try {
        await close()
      } catch (err) {
        this.log.warn({ err }, 'error while stopping a part')
      }
    }
  }
}

/**
 * libp2p reports listen failures as one UnsupportedListenAddressesError whose message holds
 * the socket errors: their codes are lost. So the addresses are tried again with a plain
 * socket, which says by its code whether one is in use.
 */
async function listenError (err: any, listen: string[]): Promise<Error> {
  const inUse = err?.code === 'EADDRINUSE' || (await Promise.all(listen.map(addressInUse))).some(Boolean)
  if (inUse) {
    return new ListenError(`listen address ${listen.join(', ')} is already in use: stop what holds it or choose another with --listen`, 'ERR_ADDRESS_IN_USE')
  }
  return new ListenError(`cannot listen on ${listen.join(', ')}: ${err?.message ?? String(err)}`, 'ERR_LISTEN')
}

async function addressInUse (ma: string): Promise<boolean> {
  const m = /^\/ip[46]\/([^/]+)\/tcp\/(\d+)/.exec(ma)
  if (m == null || m[2] === '0') return false
  return await new Promise<boolean>((resolve) => {
    const server = createServer()
    server.once('error', (e: NodeJS.ErrnoException) => { resolve(e.code === 'EADDRINUSE') })
    server.listen(Number(m[2]), m[1], () => { server.close(() => { resolve(false) }) })
  })
}
