import type { NodeConfig } from '../config/index.js'
import { ConfigError } from '../config/index.js'
import { loadMembership } from './files.js'
import type { Certificate, TeamDescriptor } from '../../federation/index.js'

/**
 * The team a node starts in (config `team.descriptor` and `team.certificate`, flags `--team`
 * and `--cert`): both or neither. Checked at start — a certificate of another team, for
 * another key or expired stops the start with one line — so a wrong file is never found
 * later as refusals from every peer. None: a team of one.
 */
export async function joinTeam (config: Pick<NodeConfig, 'team'>, key: Uint8Array, now = Date.now()): Promise<{ team: TeamDescriptor, cert: Certificate, bytes: Uint8Array } | undefined> {
  const { descriptor, certificate } = config.team
  if (descriptor === '' && certificate === '') return undefined
  if (descriptor === '') throw new ConfigError('team.certificate is set but team.descriptor is not: give the team\'s team.json with --team (or AAS_TEAM)')
  if (certificate === '') throw new ConfigError('team.descriptor is set but team.certificate is not: give this node\'s certificate with --cert ("aas team admit <aas node id> --roles node,executor --out FILE")')
  return await loadMembership({ descriptor, certificate, key, now })
}
