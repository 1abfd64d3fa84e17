import { join } from 'node:path'
import { unlink } from 'node:fs/promises'
import type { PrivateKey } from '@libp2p/interface'
import type { LevelWithSilent } from 'pino'
import { defaultRegistry, type MessageRegistry } from '../protocol/index.js'
import type { NodeConfig } from './config/index.js'
import { prepareDataDir, writeFileAtomic } from './fs-util.js'
import { loadOrCreateIdentity } from './identity.js'
import { NodeStore } from './store/index.js'
import { createMetrics, type Metrics } from './metrics.js'
import { createLogger, type Logger } from './log.js'
import { createHost, defaultMaxGossipFrameBytes, type Host } from './p2p/host.js'
import { GossipRouter } from './gossip/index.js'
import { MeshKeeper } from './mesh/index.js'
import { ApiServer, nodeRoutes, nodeInfo, skillRoutes, taskRoutes, type NodeInfo } from './api/index.js'
import { Bucket } from './store/index.js'
import { BlobStore } from '../skills/store/blobstore.js'
import { TrustPolicy } from '../federation/trust.js'
import { SkillIndex } from '../skills/index/index.js'
import { SkillService } from './skills/index.js'
import { SandboxRunner } from '../skills/sandbox/index.js'
import { TaskStore } from './tasks/store.js'
import { MemoryEngine } from './tasks/memory.js'
import { TaskOrigin } from './tasks/origin.js'
import { TaskExecutor } from './tasks/executor.js'
import { TaskService } from './tasks/service.js'
import { ListenError } from './errors.js'

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
  readonly registry: MessageRegistry
  status: NodeStatus = 'idle'
  store!: NodeStore
  privateKey!: PrivateKey
  host!: Host
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
  origin!: TaskOrigin
  executor!: TaskExecutor
  tasks!: TaskService
  private startedAt = 0
  /** Undo steps of a (partial) start, run in reverse by stop. */
  private readonly closers: Array<() => Promise<void> | void> = []

  constructor (init: AasNodeInit) {
    this.config = init.config
    this.log = init.log ?? createLogger(init.config.logLevel as LevelWithSilent)
    this.metrics = createMetrics({ defaults: init.processMetrics ?? true })
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

    this.blobs = new BlobStore(config.dataDir)
    await this.blobs.open()
    this.trust = new TrustPolicy(config.trust.authors)
    this.skillIndex = new SkillIndex({ store: this.store.sublevel(Bucket.skills), trust: this.trust })
    await this.skillIndex.load()

    this.host = await createHost({
      privateKey: this.privateKey,
      listen: config.listen,
      bootstrap: config.bootstrap,
      topics: this.registry.topics(),
      maxConnections: config.mesh.maxConnections,
      maxGossipFrameBytes: defaultMaxGossipFrameBytes,
      dialTimeoutMs: config.mesh.dialTimeoutS * 1000
    })
    const log = this.log
    this.gossip = new GossipRouter(
      { pubsub: this.host.services.pubsub, privateKey: this.privateKey, registry: this.registry, metrics: this.metrics, log: log.child({ part: 'gossip' }) },
      { freshness: { maxAgeMs: config.gossip.maxAgeS * 1000, maxFutureMs: config.gossip.maxFutureS * 1000 } }
    )
    this.mesh = new MeshKeeper(
      { host: this.host, gossip: this.gossip, log: log.child({ part: 'mesh' }) },
      {
        bootstrap: config.bootstrap,
        targetPeers: config.mesh.targetPeers,
        redialIntervalMs: config.mesh.redialIntervalS * 1000,
        helloIntervalMs: config.gossip.helloIntervalS * 1000,
        dialTimeoutMs: config.mesh.dialTimeoutS * 1000
      }
    )
    this.skills = new SkillService(
      { host: this.host, gossip: this.gossip, mesh: this.mesh, index: this.skillIndex, blobs: this.blobs, trust: this.trust, registry: this.registry, metrics: this.metrics, log: log.child({ part: 'skills' }) },
      { maxBundleBytes: config.skills.maxBundleBytes, fetchTimeoutMs: config.skills.fetchTimeoutS * 1000, fetchStallMs: config.skills.fetchStallS * 1000 }
    )
    this.runner = new SandboxRunner({ ...config.sandbox })
    this.memory = new MemoryEngine(this.store.sublevel(Bucket.memory))
    const self = this.host.peerId.toString()
    this.origin = new TaskOrigin(
      { self, store: this.taskStore = new TaskStore(this.store.sublevel(Bucket.tasks)), index: this.skillIndex, gossip: this.gossip, memory: this.memory, metrics: this.metrics, log: log.child({ part: 'origin' }), localOffer: (t) => { this.executor.onOffer({ taskId: t.id, attempt: t.attempt, skill: t.spec.skill, inputBytes: 0, resources: t.spec.resources, deadline: t.deadline, exclude: t.exclude }, self) },
        localAssigned: (t) => { if (t.executor != null) this.executor.onAssigned(t.id, t.attempt, t.executor) },
        localDone: (t) => { this.executor.onDone(t.id) } },
      { leaseMs: config.tasks.leaseS * 1000, bidWindowMs: config.tasks.bidWindowMs, reofferMs: config.tasks.reofferS * 1000, defaultTimeoutS: config.tasks.defaultTimeoutS, defaultAttempts: config.tasks.defaultAttempts, sandbox: this.runner.options }
    )
    this.executor = new TaskExecutor(
      { self, host: this.host, privateKey: this.privateKey, origin: this.origin, skills: this.skills, runner: this.runner, trust: this.trust, mesh: this.mesh, db: this.store.sublevel(Bucket.executor), metrics: this.metrics, log: log.child({ part: 'executor' }) },
      { slots: config.tasks.slots, renewMs: Math.max(500, Math.floor(config.tasks.leaseS * 1000 / 3)) }
    )
    this.tasks = new TaskService({ host: this.host, gossip: this.gossip, registry: this.registry, origin: this.origin, executor: this.executor, log: log.child({ part: 'tasks' }) },
      { maxAgeMs: config.gossip.maxAgeS * 1000, maxFutureMs: config.gossip.maxFutureS * 1000 })
    this.metrics.setPeerSource(() => this.host.getPeers().length)

    try {
      await this.host.start()
    } catch (err: any) {
      await Promise.resolve(this.host.stop()).catch(() => {})
      throw listenError(err, config.listen)
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
    await this.origin.start()
    this.closers.push(() => { this.origin.stop() })
    await this.executor.start()
    this.closers.push(() => { this.executor.stop() })
    this.gossip.start()
    this.closers.push(() => { this.gossip.stop() })
    this.mesh.start()
    this.closers.push(() => { this.mesh.stop() })

    this.startedAt = Date.now()
    this.api = new ApiServer({ listen: config.api }, [
      nodeRoutes({ host: this.host, mesh: this.mesh, registry: this.metrics.registry, startedAt: this.startedAt }),
      skillRoutes({ skills: this.skills, index: this.skillIndex, maxBundleBytes: config.skills.maxBundleBytes }),
      taskRoutes({ origin: this.origin, executor: this.executor, store: this.taskStore, memory: this.memory, self: this.host.peerId.toString() })
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
    this.status = 'started'
    this.log.info({ peerId: runtime.peerId, addresses: runtime.addresses, api }, 'node started')
    return runtime
  }

  info (): NodeInfo {
    return nodeInfo({ host: this.host, mesh: this.mesh, registry: this.metrics.registry, startedAt: this.startedAt })
  }

  async stop (): Promise<void> {
    if (this.status === 'stopped' || this.status === 'stopping' || this.status === 'idle') return
    this.status = 'stopping'
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

function listenError (err: any, listen: string[]): Error {
  const text = `${err?.message ?? ''} ${err?.cause?.message ?? ''} ${err?.code ?? ''}`
  if (/EADDRINUSE/.test(text) || err?.code === 'EADDRINUSE') {
    return new ListenError(`listen address ${listen.join(', ')} is already in use: stop what holds it or choose another with --listen`, 'ERR_ADDRESS_IN_USE')
  }
  return new ListenError(`cannot listen on ${listen.join(', ')}: ${err?.message ?? String(err)}`, 'ERR_LISTEN')
}
