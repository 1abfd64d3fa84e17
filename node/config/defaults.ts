import { createHash } from 'node:crypto'
import { availableParallelism, homedir } from 'node:os'
import { join } from 'node:path'
import { defaultSandboxOptions as sb } from '../../skills/sandbox/options.js'
import { defaultFetchOptions as fetch } from '../../skills/fetch/options.js'
import type { NodeConfig } from './schema.js'
import { defaultMemoryOptions } from '../improve/options.js'
// each part's options module, not the part: every CLI command that reads settings comes here,
// and must not load LevelDB, libp2p or the task machinery to learn a default
import { defaultAuditLogOptions } from '../audit/options.js'
import { defaultReviewQueueOptions } from '../review/options.js'
import { defaultImproverOptions } from '../improve/options.js'
import { defaultOriginOptions as origin } from '../tasks/origin/context.js'

import { DEFAULT_API_PORT, DEFAULT_P2P_PORT } from './ports.js'
export { DEFAULT_API_PORT, DEFAULT_P2P_PORT } from './ports.js'

/** Defaults that work on one machine with no configuration at all. */
export function defaultNodeConfig (): NodeConfig {
  return {
    dataDir: join(homedir(), '.aas'),
    listen: [`/ip4/0.0.0.0/tcp/${DEFAULT_P2P_PORT}`],
    bootstrap: [],
    api: `127.0.0.1:${DEFAULT_API_PORT}`,
    apiAllowedHosts: [],
    logLevel: 'info',
    gossip: { maxAgeS: 300, maxFutureS: 30, helloIntervalS: 30 },
    mesh: { targetPeers: 8, maxConnections: 300, redialIntervalS: 5, dialTimeoutS: 10, maxKnownPeers: 1000 },
    sandbox: {
      defaults: { ...sb.defaults },
      max: { ...sb.max },
      images: { ...sb.images },
      maxStdoutBytes: sb.maxStdoutBytes,
      maxInputBytes: sb.maxInputBytes,
      tmpMB: sb.tmpMB,
      allowUnenforcedLimits: sb.allowUnenforcedLimits,
      cgroupParent: sb.cgroupParent
    },
    skills: { maxBundleBytes: fetch.maxBytes, fetchTimeoutS: fetch.timeoutMs / 1000, fetchStallS: fetch.stallMs / 1000 },
    tasks: {
      slots: availableParallelism(),
      leaseS: origin.leaseMs / 1000,
      bidWindowMs: origin.bidWindowMs,
      reofferS: origin.reofferMs / 1000,
      defaultTimeoutS: origin.defaultTimeoutS,
      defaultAttempts: origin.defaultAttempts,
      tier: 0
    },
    trust: { authors: [] },
    team: { descriptor: '', certificate: '' },
    federation: { partners: [] },
    review: { holdS: defaultReviewQueueOptions.holdMs / 1000 },
    improver: { ...defaultImproverOptions, memory: { ...defaultMemoryOptions } },
    audit: { checkpointEvery: defaultAuditLogOptions.checkpointEvery, checkpointIntervalS: defaultAuditLogOptions.checkpointIntervalMs / 1000 },
    auth: { sessionTtlS: 8 * 3600, secureCookies: false, loginPerMinute: 30 }
  }
}

/** A short digest of the effective settings, so the audit trail shows when they changed. */
export function configDigest (config: NodeConfig): string {
  return createHash('sha256').update(JSON.stringify(config)).digest('hex').slice(0, 16)
}
