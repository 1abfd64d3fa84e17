import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { expect } from 'chai'
import { resolveConfig } from '../../../node/config/index.js'
import { createMetrics } from '../../../node/metrics.js'
import { REPO } from '../../utils/cli-node.js'

/**
 * What ships for operators stays true: the example config is valid, and every metric the
 * Grafana dashboard queries is one a node exports (so the dashboard cannot silently rot).
 */
describe('scripts/deploy and scripts/dashboards', () => {
  it('the example config file passes the config schema', async () => {
    const config = await resolveConfig({ file: join(REPO, 'scripts', 'deploy', 'aas.json'), env: {} })
    expect(config.dataDir).to.equal('/var/lib/aas')
    expect(config.api).to.match(/^127\.0\.0\.1:/)
  })

  it('the dashboard queries only metrics a node exports', async () => {
    const dash = JSON.parse(await readFile(join(REPO, 'scripts', 'dashboards', 'aas-grafana.json'), 'utf8'))
    const exprs: string[] = dash.panels.flatMap((p: any) => p.targets.map((t: any) => t.expr))
    const used = new Set(exprs.flatMap(e => e.match(/\b(aas|nodejs|process)_[a-z0-9_]+/g) ?? []))
    const metrics = createMetrics({ defaults: true })
    const exported = new Set((await metrics.registry.getMetricsAsJSON()).flatMap(m => String(m.type) === 'histogram' ? [`${m.name}_bucket`, `${m.name}_sum`, `${m.name}_count`] : [m.name]))
    expect(used.size).to.be.greaterThan(10)
    for (const name of used) expect(exported.has(name), `${name} is not exported`).to.equal(true)
  })
})
