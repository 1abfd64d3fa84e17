import { writeFile } from 'node:fs/promises'
import type { Command } from 'commander'
import { AasError, UsageError } from '../../../protocol/errors.js'
import { ApiError, apiRequest, resolveApiUrl } from '../api-client.js'
import { fetchWithProgress } from '../fetch-progress.js'
import { emit } from '../output.js'
import { configuredRunner, skillCommand } from './skill.js'

/**
 * The skill library commands: pack, publish, search, show, fetch. Packing and signing happen
 * here, in the CLI, so the author key never leaves the author's machine; the node checks
 * everything again before it stores or announces anything.
 */
interface SearchHit { name: string, version: string, cid: string, author: string, description: string, category: string | null, tags: string[] }

const apiOptions = (cmd: Command): Command => cmd
  .option('--api <url>', 'API of the node [default: the node on --data, env AAS_API]')
  .option('--data <dir>', 'data directory of the local node [default: ~/.aas]')

export function registerLibrary (program: Command): void {
  const skill = skillCommand(program)

  skill.command('pack <dir>')
    .description('pack a skill folder into a deterministic bundle; prints its CID and size')
    .option('--out <file>', 'write the bundle here')
    .option('--json', 'print {cid, size, name, version, files} as JSON')
    .action(async (dir: string, opts) => {
      const { packSkill } = await import('../../../skills/bundle/index.js')
      const b = await packSkill(dir)
      if (opts.out != null) await writeFile(opts.out, b.bytes)
      emit(opts.json === true, { cid: b.cid.toString(), size: b.size, name: b.manifest.name, version: b.manifest.version, files: b.files.length }, () => `${b.cid.toString()}  ${b.size} bytes  ${b.manifest.name}@${b.manifest.version} (${b.files.length} files)${opts.out != null ? `\nwritten to ${String(opts.out)}` : ''}`)
    })

  apiOptions(skill.command('publish <dir>'))
    .description("lint, test in the sandbox, pack, sign with the author key, store on the node and announce")
    .requiredOption('--key <file>', 'author key (aas keys new)')
    .option('--cert <file>', 'the author\'s membership certificate (role author): nodes of the team trust the author by it [env AAS_AUTHOR_CERT]')
    .option('--config <file>', 'node config file whose sandbox policy applies to the tests [env AAS_CONFIG]')
    .option('--json', 'print {name, version, cid, size, author, announced} as JSON')
    .action(async (dir: string, opts) => {
      const [{ packSkill }, { loadAuthorKey }, { testSkill }, { signRelease, manifestDigest }] = await Promise.all([
        import('../../../skills/bundle/index.js'), import('../../../skills/keys.js'),
        import('../../../skills/sandbox/test-skill.js'), import('../../../protocol/index.js')
      ])
      const key = await loadAuthorKey(opts.key)
      const certFile = opts.cert ?? (process.env.AAS_AUTHOR_CERT !== '' ? process.env.AAS_AUTHOR_CERT : undefined)
      let authorCert: string | undefined
      if (certFile != null) {
        const { readCertificate } = await import('../../team/files.js')
        const { cert, bytes } = await readCertificate(certFile)
        const { publicKeyText } = await import('../../../protocol/index.js')
        if (publicKeyText(cert.subject) !== key.publicKey) throw new UsageError(`--cert ${certFile} is for ${publicKeyText(cert.subject)}, not for the author key ${key.publicKey}`)
        authorCert = Buffer.from(bytes).toString('base64url')
      }
      const packed = await packSkill(dir) // lints the manifest and the tree
      const report = await testSkill(dir, await configuredRunner(opts.config))
      if (!report.ok) {
        const failed = report.cases.filter(c => !c.passed).map(c => `#${c.index + 1} ${c.reason ?? c.status}`).join('; ')
        throw new PublishRefused(`publish refused: ${report.cases.length - report.passed} of ${report.cases.length} tests failed (${failed}); nothing was stored or announced`)
      }
      const release = await signRelease(key.privateKey, {
        name: packed.manifest.name,
        version: packed.manifest.version,
        cid: packed.cid.toString(),
        size: packed.size,
        publishedAt: Date.now(),
        manifestDigest: manifestDigest(packed.manifest)
      })
      const url = await resolveApiUrl(opts)
      const res = await apiRequest<{ cid: string, announced: boolean }>(url, '/v1/skills/publish', {
        method: 'POST', body: { release, manifest: packed.manifest, bundle: Buffer.from(packed.bytes).toString('base64'), ...(authorCert != null ? { authorCert } : {}) }, timeoutMs: 120_000
      }).catch((err) => { throw err instanceof ApiError && err.status != null ? new PublishRefused(`publish refused: ${err.message}`) : err })
      const out = { name: release.name, version: release.version, cid: release.cid, size: release.size, author: release.author, announced: res.announced, tests: report.cases.length }
      emit(opts.json === true, out, () => `published ${out.name}@${out.version}  ${out.cid}  (${out.size} bytes, ${out.tests} tests passed${out.announced ? ', announced' : ', no peers yet: peers learn it when they connect'})`)
    })

  apiOptions(skill.command('search [query]'))
    .description('search the skill index by name, tags, category and description')
    .option('--tag <tag>', 'only skills with this tag')
    .option('--category <category>', 'only skills in this category')
    .option('--json', 'print an array of {name, version, cid, author, description, category, tags}')
    .action(async (query: string | undefined, opts) => {
      const url = await resolveApiUrl(opts)
      const params = new URLSearchParams({ q: query ?? '' })
      if (opts.tag != null) params.set('tag', opts.tag)
      if (opts.category != null) params.set('category', opts.category)
      const hits = await apiRequest<Array<SearchHit & { score: number }>>(url, `/v1/skills?${params.toString()}`)
      const out = hits.map(({ score: _s, ...h }) => h)
      emit(opts.json === true, out, () => out.length === 0
        ? 'no skills match'
        : out.map(h => `${h.name}@${h.version}  ${h.category ?? '-'}  [${h.tags.join(', ')}]\n  ${h.description}\n  ${h.cid}`).join('\n'))
    })

  apiOptions(skill.command('show <ref>'))
    .description('show a release: NAME, NAME@RANGE (highest trusted match) or CID')
    .option('--json', 'print the release with its manifest as JSON')
    .action(async (ref: string, opts) => {
      const url = await resolveApiUrl(opts)
      const r = await apiRequest<any>(url, `/v1/skills/${encodeURIComponent(ref)}`)
      emit(opts.json === true, r, () => [
        `${String(r.name)}@${String(r.version)}  (${String(r.manifest.runtime)})`,
        `  ${String(r.manifest.description)}`,
        `  cid       ${String(r.cid)}  (${String(r.size)} bytes)`,
        `  author    ${String(r.author)}`,
        `  published ${new Date(r.publishedAt as number).toISOString()}`,
        `  versions  ${(r.versions as string[]).join(', ')}${(r.quarantined ?? []).length > 0 ? `  (quarantined on this node: ${(r.quarantined as string[]).join(', ')})` : ''}`,
        ...(r.quarantine != null
          ? [r.quarantine.lifted == null
              ? `  QUARANTINED on this node since ${new Date(r.quarantine.since as number).toISOString()}: ${String(r.quarantine.reason)}\n            tasks asking for ${String(r.name)} get the previous good release; a newer release or an admin (aas memory lift) ends it`
              : `  was quarantined on this node: ${String(r.quarantine.reason)}; lifted by ${String(r.quarantine.lifted.by).replace(/^user:/, '')}${r.quarantine.lifted.version != null ? ` (${String(r.quarantine.lifted.version)})` : ''}`]
          : [])
      ].join('\n'))
    })

  apiOptions(skill.command('fetch <ref>'))
    .description('fetch a release into the node\'s verified cache (local cache first, then peers)')
    .option('--json', 'print {cid, size, source, dir} as JSON')
    .action(async (ref: string, opts) => {
      const url = await resolveApiUrl(opts)
      const result = await fetchWithProgress(url, ref, opts.json !== true && process.stderr.isTTY)
      emit(opts.json === true, result, () => `${result.release.name}@${result.release.version}  ${result.cid}  ${result.size} bytes from ${result.source === 'local' ? 'the local cache' : `peer ${result.source}`}\n  ${result.dir}`)
    })
}

class PublishRefused extends AasError {
  constructor (message: string) {
    super(message, 'ERR_PUBLISH_REFUSED')
    this.name = 'PublishRefused'
  }
}
