import { resolve } from 'node:path'
import type { Command } from 'commander'
import { emit } from '../output.js'
import { UsageError } from '../../../protocol/errors.js'

/**
 * `aas team`: a team's root key and descriptor, membership certificates, revocations and
 * partner teams (DESIGN.md "Federation and security"). Everything but `revoke` and
 * `partner add` works offline, on files: the root key never needs to be on a node.
 */
export function registerTeam (program: Command): void {
  const team = program.command('team').description('teams: root key, membership certificates, revocations, partners')

  team.command('init <name>')
    .description('make a new team: its root key (team.key, mode 0600) and public descriptor (team.json) in DIR')
    .requiredOption('--out <dir>', 'folder to write team.key and team.json to (created if missing)')
    .option('--json', 'print {"name", "rootKey", "key", "descriptor"} as JSON')
    .action(async (name: string, opts) => {
      const { mkdir } = await import('node:fs/promises')
      const { initTeam } = await import('../../team/files.js')
      const dir = resolve(opts.out)
      await mkdir(dir, { recursive: true, mode: 0o700 })
      const t = await initTeam(name, dir)
      emit(opts.json === true, { ...t.descriptor, key: t.keyFile, descriptor: t.descriptorFile }, () => [
        `team "${t.descriptor.name}" root key ${t.descriptor.rootKey}`,
        `  ${t.keyFile}  (the root key: keep it secret and offline; it signs certificates and revocations)`,
        `  ${t.descriptorFile}  (public: give it to every node with --team)`
      ].join('\n'))
    })

  team.command('admit <subject>')
    .description('sign a membership certificate for a peer id (a node: "aas node id") or a public key (an author or CLI key: "aas keys show")')
    .requiredOption('--roles <roles>', 'comma-separated: node, executor, publisher, author, admin')
    .requiredOption('--key <file>', "the team's root key (team.key)")
    .option('--expires <duration>', 'valid for this long from now (e.g. 30d, 12h)', '365d')
    .option('--team <file>', "the team's descriptor [default: team.json beside --key]")
    .option('--out <file>', 'write the certificate file here (mode 0644) instead of printing it')
    .option('--json', 'print the certificate file as JSON')
    .action(async (subject: string, opts) => {
      const { parseDuration, parseRoles, parseSubject } = await import('../../../federation/index.js')
      const { admit, descriptorForKey, readTeamKey } = await import('../../team/files.js')
      const subjectKey = parseSubject(subject)
      const roles = parseRoles(opts.roles)
      const ttl = parseDuration(opts.expires)
      const key = await readTeamKey(opts.key)
      const d = await descriptorForKey(opts.key, key, opts.team)
      const now = Date.now()
      // a minute's grace before now: a member whose clock is a little behind accepts it at once
      const file = await admit(key, { team: d.name, subject: subjectKey, roles, notBefore: now - 60_000, expires: now + ttl })
      if (opts.out != null) {
        const { writeFileAtomic } = await import('../../fs-util.js')
        await writeFileAtomic(opts.out, JSON.stringify(file, null, 2) + '\n', 0o644)
      }
      emit(opts.json === true || opts.out == null, file, () => `admitted ${file.peerId} to team "${file.team}" as ${file.roles.join(', ')} until ${file.expires} (serial ${file.serial}); certificate written to ${String(opts.out)}`)
    })

  team.command('revoke <subject>')
    .description("revoke a member's key: the node gossips the signed revocation and every node refuses the key from then on")
    .requiredOption('--key <file>', "the team's root key (team.key)")
    .option('--team <file>', "the team's descriptor [default: team.json beside --key]")
    .option('--api <url>', 'API of a node of the team that gossips it [default: the node on --data, env AAS_API]')
    .option('--data <dir>', 'data directory of the local node [default: ~/.aas]')
    .option('--json', 'print {"revoked", "peerId", "nodes"} as JSON')
    .action(async (subject: string, opts) => {
      const { issueRevocation, parseSubject, peerIdOfKey } = await import('../../../federation/index.js')
      const { descriptorForKey, readTeamKey } = await import('../../team/files.js')
      const { encodeCanonical, parsePublicKeyText, publicKeyText } = await import('../../../protocol/index.js')
      const { apiRequest, resolveApiUrl } = await import('../api-client.js')
      const subjectKey = parseSubject(subject)
      const key = await readTeamKey(opts.key)
      const d = await descriptorForKey(opts.key, key, opts.team)
      if (publicKeyText(subjectKey) === d.rootKey) throw new UsageError('the team root cannot be revoked: make a new team instead')
      const r = await issueRevocation(key, { root: parsePublicKeyText(d.rootKey), subject: subjectKey, revokedAt: Date.now() })
      const url = await resolveApiUrl(opts)
      const res = await apiRequest<{ revoked: string, new: boolean }>(url, '/v1/team/revocations', { method: 'POST', body: { revocation: Buffer.from(encodeCanonical(r)).toString('base64url') } })
      emit(opts.json === true, { revoked: res.revoked, peerId: peerIdOfKey(subjectKey) }, () => `revoked ${peerIdOfKey(subjectKey)} (${res.revoked}) in team "${d.name}"; gossiped by ${url}`)
    })

  const partner = team.command('partner').description("partner teams in a node's config (federation.partners)")
  partner.command('add <team-json>')
    .description("list a partner team in the node's config file with what it may do here")
    .requiredOption('--grant <grants>', 'comma-separated: execute (run our federation tasks), publish (offer federation tasks to us), trust-authors (trust its authors)')
    .option('--config <file>', "the node's JSON config file (created if missing) [env AAS_CONFIG]")
    .option('--json', 'print the partner list as JSON')
    .action(async (teamJson: string, opts) => {
      const { parseGrants } = await import('../../../federation/index.js')
      const { readTeamDescriptor } = await import('../../team/files.js')
      const { readConfigFile } = await import('../../config/index.js')
      const { writeFileAtomic } = await import('../../fs-util.js')
      const file = opts.config ?? process.env.AAS_CONFIG
      if (file == null || file === '') throw new UsageError('give the node\'s config file with --config FILE (or AAS_CONFIG); it is created if missing')
      const grants = parseGrants(opts.grant)
      if (grants.length === 0) throw new UsageError('--grant: give at least one of execute, publish, trust-authors')
      const d = await readTeamDescriptor(teamJson)
      const { stat } = await import('node:fs/promises')
      const exists = await stat(file).then(() => true, () => false)
      const config: Record<string, any> = exists ? await readConfigFile(file) : {}
      const partners: Array<{ name: string, rootKey: string, grants: string[] }> = config.federation?.partners ?? []
      const next = [...partners.filter(p => p.rootKey !== d.rootKey), { name: d.name, rootKey: d.rootKey, grants }]
      config.federation = { ...(config.federation ?? {}), partners: next }
      await writeFileAtomic(file, JSON.stringify(config, null, 2) + '\n', 0o644)
      emit(opts.json === true, next, () => `partner "${d.name}" (${d.rootKey}) may ${grants.join(', ')} here; written to ${file} (restart the node to apply)`)
    })
}

