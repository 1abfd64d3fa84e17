import { Registry, Counter, Gauge, Histogram, collectDefaultMetrics } from 'prom-client'
import { GossipAction, RejectCode } from '../protocol/index.js'

/**
 * Every metric of the node, declared in one place on the node's own registry (no global
 * registry: several nodes may share a process in tests and benchmarks). Names end in their
 * unit; label values come only from fixed enums.
 */
export type GossipResult = 'accept' | GossipAction
export const GOSSIP_REASON_OK = 'ok'
export type GossipReason = typeof GOSSIP_REASON_OK | RejectCode | 'internal'

export interface MetricsInit {
  /** Collect Node.js process metrics (off for in-process test meshes). */
  defaults?: boolean
  /** Distinct skill names given their own `skill` label value; the rest are `other`. */
  maxSkillLabels?: number
}

/** Why the sandbox killed a run (the `reason` of `aas_sandbox_kills_total`). */
export const SANDBOX_KILL_REASONS = ['timeout', 'oom', 'output-cap', 'cancelled'] as const

/**
 * prom-client's default gauges that end in `_total` (`promtool check metrics` flags a gauge
 * named like a counter); the same counts are exported without the suffix, by type.
 */
const MISNAMED_DEFAULTS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']

/**
 * A label value from an open set (skill names), bounded: the first `max` distinct values
 * keep their own series, any later one is counted as `other`, so a flood of names cannot
 * grow the registry without end.
 */
export function boundedLabel (max: number): (value: string) => string {
  const seen = new Set<string>()
  return (value) => {
    if (seen.has(value)) return value
    if (seen.size >= max) return 'other'
    seen.add(value)
    return value
  }
}

export function createMetrics (init: MetricsInit = {}) {
  const registry = new Registry()
  if (init.defaults !== false) {
    collectDefaultMetrics({ register: registry })
    for (const name of MISNAMED_DEFAULTS) registry.removeSingleMetric(name)
  }
  let peerSource: () => number = () => 0
  let reviewDepth: () => number = () => 0

  return {
    registry,
    /** The `skill` label value of a skill name (bounded, see `boundedLabel`). */
    skillLabel: boundedLabel(init.maxSkillLabels ?? 100),
    /** Where `aas_peers` reads its value at scrape time. */
    setPeerSource (fn: () => number): void { peerSource = fn },
    peers: new Gauge({
      name: 'aas_peers',
      help: 'Peers this node holds a connection to',
      registers: [registry],
      collect () { this.set(peerSource()) }
    }),
    gossipMessages: new Counter<'topic' | 'result' | 'reason'>({
      name: 'aas_gossip_messages_total',
      help: 'Gossip messages received, by topic, validation result and reason',
      labelNames: ['topic', 'result', 'reason'],
      registers: [registry]
    }),
    gossipPublished: new Counter<'topic'>({
      name: 'aas_gossip_published_total',
      help: 'Gossip messages this node published, by topic',
      labelNames: ['topic'],
      registers: [registry]
    }),
    skillReleases: new Counter<'source' | 'result' | 'reason'>({
      name: 'aas_skill_releases_total',
      help: 'Skill release announcements handled, by source (gossip, sync, local), result (indexed, duplicate, refused) and reason',
      labelNames: ['source', 'result', 'reason'],
      registers: [registry]
    }),
    skillIndexSize: new Gauge({
      name: 'aas_skill_index_releases',
      help: 'Skill releases in this node\'s index',
      registers: [registry]
    }),
    skillFetches: new Counter<'result' | 'reason'>({
      name: 'aas_skill_fetch_attempts_total',
      help: 'Bundle fetch attempts from one provider, by result (ok, failed) and reason',
      labelNames: ['result', 'reason'],
      registers: [registry]
    }),
    skillFetchBytes: new Counter({
      name: 'aas_skill_fetch_bytes_total',
      help: 'Verified bundle bytes fetched from peers',
      registers: [registry]
    }),
    skillServedBytes: new Counter({
      name: 'aas_skill_served_bytes_total',
      help: 'Bundle bytes served to peers',
      registers: [registry]
    }),
    tasksOpen: new Gauge<'state'>({
      name: 'aas_tasks_open',
      help: 'Open tasks this node is the origin of, by state (offered, assigned)',
      labelNames: ['state'],
      registers: [registry]
    }),
    tasksFinished: new Counter<'state'>({
      name: 'aas_tasks_finished_total',
      help: 'Tasks this node originated that ended, by final state',
      labelNames: ['state'],
      registers: [registry]
    }),
    taskSubmitToResultSeconds: new Histogram({
      name: 'aas_task_submit_to_result_seconds',
      help: 'From submission to the accepted result, for succeeded tasks this node originated',
      buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300],
      registers: [registry]
    }),
    taskAttempts: new Histogram({
      name: 'aas_task_attempts',
      help: 'Attempts a task took until it ended',
      buckets: [1, 2, 3, 5, 10],
      registers: [registry]
    }),
    taskBids: new Counter<'result'>({
      name: 'aas_task_bids_total',
      help: 'Bids received as origin, by result (won, lost)',
      labelNames: ['result'],
      registers: [registry]
    }),
    taskClaims: new Counter<'result'>({
      name: 'aas_task_claims_total',
      help: 'Bids this node made as executor, by result (won, lost, error)',
      labelNames: ['result'],
      registers: [registry]
    }),
    taskLeaseExpiries: new Counter({
      name: 'aas_task_lease_expiries_total',
      help: 'Leases of tasks this node originated that expired (executor lost)',
      registers: [registry]
    }),
    taskLateResults: new Counter({
      name: 'aas_task_late_results_total',
      help: 'Results for tasks already finished: recorded and ignored',
      registers: [registry]
    }),
    sandboxRunSeconds: new Histogram<'status'>({
      name: 'aas_sandbox_run_seconds',
      help: 'Sandbox run time of task attempts, by run status',
      labelNames: ['status'],
      buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300],
      registers: [registry]
    }),
    sandboxCpuSeconds: new Counter<'skill'>({
      name: 'aas_sandbox_cpu_seconds_total',
      help: 'CPU time of the sandbox runs this node executed, read from each container\'s cgroup, by skill',
      labelNames: ['skill'],
      registers: [registry]
    }),
    sandboxMemoryPeakBytes: new Histogram({
      name: 'aas_sandbox_memory_peak_bytes',
      help: 'Peak memory charged to each sandbox run\'s cgroup (resident and page cache)',
      buckets: [8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096].map(mb => mb * 1024 * 1024),
      registers: [registry]
    }),
    sandboxRuns: new Counter<'runtime' | 'status'>({
      name: 'aas_sandbox_runs_total',
      help: 'Sandbox runs this node executed, by runtime and run status',
      labelNames: ['runtime', 'status'],
      registers: [registry]
    }),
    sandboxKills: new Counter<'reason'>({
      name: 'aas_sandbox_kills_total',
      help: 'Sandbox runs killed, by reason (timeout, oom, output-cap, cancelled)',
      labelNames: ['reason'],
      registers: [registry]
    }),
    executorRunning: new Gauge({
      name: 'aas_executor_running',
      help: 'Task attempts this node is executing now',
      registers: [registry]
    }),
    tasksEscalated: new Counter<'reason'>({
      name: 'aas_tasks_escalated_total',
      help: 'Tasks this node originated that went to its human review queue, by reason (attempts-spent, needs-human, no-bidder, deadline)',
      labelNames: ['reason'],
      registers: [registry]
    }),
    reviewQueueDepth: new Gauge({
      name: 'aas_review_queue_depth',
      help: 'Tasks waiting in this node\'s human review queue',
      registers: [registry],
      collect () { this.set(reviewDepth()) }
    }),
    reviewSeconds: new Histogram<'decision'>({
      name: 'aas_review_seconds',
      help: 'From entering the review queue to a reviewer\'s decision, by decision (resolved, rejected)',
      labelNames: ['decision'],
      buckets: [10, 30, 60, 300, 900, 1800, 3600, 14400, 86400],
      registers: [registry]
    }),
    /** Where `aas_review_queue_depth` reads its value at scrape time. */
    setReviewDepthSource (fn: () => number): void { reviewDepth = fn },
    improverDecisions: new Counter<'rule' | 'result'>({
      name: 'aas_improver_decisions_total',
      help: 'Decisions the SelfImprover was asked for, by rule (answer-reuse, routing, quarantine, fix-hint) and result (applied, none, lifted; for a fix-hint retry: worked, failed)',
      labelNames: ['rule', 'result'],
      registers: [registry]
    }),
    membershipRefusals: new Counter<'channel' | 'reason'>({
      name: 'aas_membership_refusals_total',
      help: 'Messages and requests refused for who sent them (no or bad certificate, unknown team, expired, revoked, role, not granted, not the origin), by channel (gossip, submit, claim, lease, result, status, fetch, api) and reason',
      labelNames: ['channel', 'reason'],
      registers: [registry]
    }),
    revocations: new Counter({
      name: 'aas_team_revocations_total',
      help: 'Revocations of team keys this node learned and applied',
      registers: [registry]
    }),
    auditEntries: new Counter<'action'>({
      name: 'aas_audit_entries_total',
      help: 'Audit entries this node wrote, by action',
      labelNames: ['action'],
      registers: [registry]
    }),
    auditHeadSeq: new Gauge({
      name: 'aas_audit_head_seq',
      help: 'Seq of the last audit entry on disk',
      registers: [registry]
    }),
    streamRefusals: new Counter<'protocol' | 'reason'>({
      name: 'aas_stream_refusals_total',
      help: 'libp2p streams refused before their request was read, by protocol and reason (rate-limited: over the peer\'s streams a second)',
      labelNames: ['protocol', 'reason'],
      registers: [registry]
    }),
    authLogins: new Counter<'result'>({
      name: 'aas_auth_logins_total',
      help: 'Login attempts, by result (ok, bad-credentials, throttled, locked, disabled)',
      labelNames: ['result'],
      registers: [registry]
    }),
    skillFetchSeconds: new Histogram({
      name: 'aas_skill_fetch_seconds',
      help: 'Time to fetch and verify one bundle from a provider',
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry]
    })
  }
}

export type Metrics = ReturnType<typeof createMetrics>
