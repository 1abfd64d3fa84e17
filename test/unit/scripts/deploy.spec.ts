import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { Ajv } from 'ajv'
import { expect } from 'chai'
import { resolveConfig } from '../../../node/config/index.js'
import { createMetrics } from '../../../node/metrics.js'
import { createHost } from '../../../node/p2p/host.js'
import { REPO } from '../../utils/cli-node.js'

/**
 * What ships for operators stays true: the example config is valid, and every metric the
 * Grafana dashboard queries is one a node exports (so the dashboard cannot silently rot).
 */
const DASHBOARD = join(REPO, 'scripts', 'dashboards', 'aas-grafana.json')

/**
 * The fields Grafana's dashboard schema (the classic JSON model, `kinds/dashboard`) requires
 * of a dashboard, a panel, its grid position and its queries, and that an import needs
 * (title, uid, a Prometheus data source on every query).
 */
const dashboardSchema = {
  type: 'object',
  required: ['title', 'uid', 'schemaVersion', 'editable', 'graphTooltip', 'time', 'panels'],
  properties: {
    title: { type: 'string', minLength: 1 },
    uid: { type: 'string', minLength: 1, maxLength: 40 },
    schemaVersion: { type: 'integer', minimum: 36 },
    editable: { type: 'boolean' },
    graphTooltip: { enum: [0, 1, 2] },
    time: { type: 'object', required: ['from', 'to'], properties: { from: { type: 'string' }, to: { type: 'string' } } },
    panels: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        required: ['id', 'type', 'title', 'gridPos', 'datasource', 'fieldConfig', 'options', 'targets'],
        properties: {
          id: { type: 'integer', minimum: 1 },
          type: { type: 'string', minLength: 1 },
          title: { type: 'string', minLength: 1 },
          gridPos: {
            type: 'object',
            required: ['h', 'w', 'x', 'y'],
            properties: { h: { type: 'integer', minimum: 1 }, w: { type: 'integer', minimum: 1, maximum: 24 }, x: { type: 'integer', minimum: 0, maximum: 23 }, y: { type: 'integer', minimum: 0 } }
          },
          datasource: { type: 'object', required: ['type', 'uid'], properties: { type: { const: 'prometheus' } } },
          fieldConfig: { type: 'object', required: ['defaults', 'overrides'] },
          options: { type: 'object' },
          targets: {
            type: 'array',
            minItems: 1,
            items: { type: 'object', required: ['refId', 'expr'], properties: { refId: { type: 'string', minLength: 1 }, expr: { type: 'string', minLength: 1 } } }
          }
        }
      }
    }
  }
}

/** The metric names a running node exports: its own, Node.js's, and libp2p's (from a real host). */
async function exportedNames (): Promise<Set<string>> {
  const metrics = createMetrics({ defaults: true })
  const host = await createHost({
    privateKey: await generateKeyPair('Ed25519'),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    bootstrap: [],
    topics: [],
    maxConnections: 10,
    maxGossipFrameBytes: 1024 * 1024,
    dialTimeoutMs: 1000,
    metrics: { registry: metrics.registry, statfsLocation: REPO }
  })
  await host.start()
  try {
    const all = await metrics.registry.getMetricsAsJSON()
    return new Set(all.flatMap(m => String(m.type) === 'histogram' ? [`${m.name}_bucket`, `${m.name}_sum`, `${m.name}_count`] : [m.name]))
  } finally {
    await host.stop()
  }
}
describe('scripts/deploy and scripts/dashboards', () => {
  it('the example config file passes the config schema', async () => {
    const config = await resolveConfig({ file: join(REPO, 'scripts', 'deploy', 'aas.json'), env: {} })
    expect(config.dataDir).to.equal('/var/lib/aas')
    expect(config.api).to.match(/^127\.0\.0\.1:/)
  })

  it('the dashboard queries only metrics a node exports', async () => {
    const dash = JSON.parse(await readFile(DASHBOARD, 'utf8'))
    const exprs: string[] = dash.panels.flatMap((p: any) => p.targets.map((t: any) => t.expr))
    const used = new Set(exprs.flatMap(e => e.match(/\b(aas|nodejs|process|libp2p)_[a-z0-9_]+/g) ?? []))
    const exported = await exportedNames()
    expect(used.size).to.be.greaterThan(10)
    for (const name of used) expect(exported.has(name), `${name} is not exported`).to.equal(true)
  })

  it('the dashboard covers tasks, latency, failures, sandbox CPU and memory, fetches, peers, gossip rejections and libp2p', async () => {
    const dash = JSON.parse(await readFile(DASHBOARD, 'utf8'))
    const exprs: string = dash.panels.flatMap((p: any) => p.targets.map((t: any) => t.expr)).join('\n')
    for (const wanted of [
      'aas_tasks_open', 'aas_tasks_finished_total', 'aas_task_submit_to_result_seconds_bucket', 'aas_task_attempts_bucket',
      'state=~"failed|cancelled"', 'aas_sandbox_cpu_seconds_total', 'aas_sandbox_memory_peak_bytes_bucket', 'aas_sandbox_kills_total',
      'aas_skill_fetch_attempts_total', 'aas_skill_fetch_seconds_bucket', 'aas_skill_fetch_bytes_total', 'aas_peers',
      'aas_gossip_messages_total{result="reject"}', 'libp2p_connection_manager_connections', 'libp2p_data_transfer_bytes_total'
    ]) expect(exprs, wanted).to.include(wanted)
  })

  it('the dashboard has the fields Grafana\'s dashboard schema requires, unique ids and no overlapping panels', async () => {
    const dash = JSON.parse(await readFile(DASHBOARD, 'utf8'))
    const validate = new Ajv({ allErrors: true, strict: false }).compile(dashboardSchema)
    expect(validate(dash), JSON.stringify(validate.errors)).to.equal(true)
    const panels = dash.panels as Array<{ id: number, gridPos: { x: number, y: number, w: number, h: number }, targets: Array<{ refId: string }> }>
    expect(new Set(panels.map(p => p.id)).size).to.equal(panels.length)
    for (const p of panels) {
      expect(new Set(p.targets.map(t => t.refId)).size, `refIds of panel ${p.id}`).to.equal(p.targets.length)
      expect(p.gridPos.x + p.gridPos.w, `panel ${p.id} fits the 24-column grid`).to.be.at.most(24)
    }
    const overlap = (a: typeof panels[number]['gridPos'], b: typeof a): boolean => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h
    for (const [i, a] of panels.entries()) for (const b of panels.slice(i + 1)) expect(overlap(a.gridPos, b.gridPos), `panels ${a.id} and ${b.id} overlap`).to.equal(false)
  })
})
