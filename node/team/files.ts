import { readFile, stat } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { publicKeyText } from '../../protocol/keys.js'
import {
  checkTeamName, decodeCertificate, issueCertificate, parseTeamDescriptor, peerIdOfKey, TeamError, TeamErrorCode,
  type Certificate, type IssueOptions, type TeamDescriptor
} from '../../federation/index.js'
import { writeFileAtomic } from '../fs-util.js'

/**
 * Team files on disk: `aas team init` writes `team.json` (public: {name, rootKey}) and
 * `team.key` (the root key, 0600, refused if others can read it, like an ssh key);
 * `aas team admit` writes certificate files — JSON that says in words what the certificate
 * says, plus the signed bytes (`certificate`, base64url), which are all that count.
 */
export const TEAM_DESCRIPTOR_FILE = 'team.json'
export const TEAM_KEY_FILE = 'team.key'

export interface CertificateFile {
  team: string
  rootKey: string
  subject: string
  peerId: string
  roles: string[]
  notBefore: string
  expires: string
  serial: string
  certificate: string
}

async function readText (path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8')
  } catch (err: any) {
    throw new TeamError(`cannot read ${what} ${path}: ${err.code ?? err.message}`, TeamErrorCode.BAD_FILE)
  }
}

async function readJson (path: string, what: string): Promise<unknown> {
  const text = await readText(path, what)
  try {
    return JSON.parse(text)
  } catch (err: any) {
    throw new TeamError(`${what} ${path} is not valid JSON: ${err.message}`, TeamErrorCode.BAD_FILE)
  }
}

export async function readTeamDescriptor (path: string): Promise<TeamDescriptor> {
  return parseTeamDescriptor(await readJson(path, 'team descriptor'), `team descriptor ${path}`)
}

/** Creates a team in `dir`: root key (0600) and descriptor. Never overwrites. */
export async function initTeam (name: string, dir: string): Promise<{ descriptor: TeamDescriptor, keyFile: string, descriptorFile: string }> {
  checkTeamName(name)
  const keyFile = join(dir, TEAM_KEY_FILE)
  const descriptorFile = join(dir, TEAM_DESCRIPTOR_FILE)
  for (const f of [keyFile, descriptorFile]) {
    if (await stat(f).then(() => true, () => false)) throw new TeamError(`${f} already exists: a team is made once (choose another --out)`, TeamErrorCode.BAD_FILE)
  }
  const key = await generateKeyPair('Ed25519')
  const descriptor: TeamDescriptor = { name, rootKey: publicKeyText(key.publicKey.raw) }
  await writeFileAtomic(keyFile, privateKeyToProtobuf(key), 0o600)
  await writeFileAtomic(descriptorFile, JSON.stringify(descriptor, null, 2) + '\n', 0o644)
  return { descriptor, keyFile, descriptorFile }
}

/** The team root key (or an admin's key) from its 0600 file. */
export async function readTeamKey (path: string): Promise<PrivateKey> {
  let s
  try {
    s = await stat(path)
  } catch (err: any) {
    throw new TeamError(`cannot read team key ${path}: ${err.code ?? err.message}`, TeamErrorCode.BAD_FILE)
  }
  if ((s.mode & 0o077) !== 0) throw new TeamError(`team key ${path} is accessible by other users (mode ${(s.mode & 0o777).toString(8)}): run chmod 600 ${path}`, TeamErrorCode.BAD_FILE)
  try {
    const key = privateKeyFromProtobuf(await readFile(path))
    if (key.type !== 'Ed25519') throw new Error(`a ${key.type} key`)
    return key
  } catch (err: any) {
    throw new TeamError(`${path} is not a team key (${err.message})`, TeamErrorCode.BAD_FILE)
  }
}

/** The descriptor beside a key file (`team.json` in the key's folder), checked against the key. */
export async function descriptorForKey (keyFile: string, key: PrivateKey, descriptorFile?: string): Promise<TeamDescriptor> {
  const file = descriptorFile ?? join(dirname(keyFile), TEAM_DESCRIPTOR_FILE)
  const d = await readTeamDescriptor(file)
  if (d.rootKey !== publicKeyText(key.publicKey.raw)) throw new TeamError(`${keyFile} is not the root key of team "${d.name}" (${file})`, TeamErrorCode.WRONG_KEY)
  return d
}

export function certificateFile (c: Certificate, bytes: Uint8Array): CertificateFile {
  return {
    team: c.team,
    rootKey: publicKeyText(c.root),
    subject: publicKeyText(c.subject),
    peerId: peerIdOfKey(c.subject),
    roles: c.roles,
    notBefore: new Date(c.notBefore).toISOString(),
    expires: new Date(c.expires).toISOString(),
    serial: c.serial,
    certificate: Buffer.from(bytes).toString('base64url')
  }
}

export async function admit (root: PrivateKey, o: IssueOptions): Promise<CertificateFile> {
  const bytes = await issueCertificate(root, o)
  return certificateFile(await decodeCertificate(bytes), bytes)
}

/** Reads a certificate file; returns the checked certificate and its bytes. */
export async function readCertificate (path: string): Promise<{ cert: Certificate, bytes: Uint8Array }> {
  const v = await readJson(path, 'certificate file') as Partial<CertificateFile> | null
  if (v == null || typeof v.certificate !== 'string') throw new TeamError(`certificate file ${path} has no "certificate" field (write it with "aas team admit … --out FILE")`, TeamErrorCode.BAD_FILE)
  const bytes = new Uint8Array(Buffer.from(v.certificate, 'base64url'))
  try {
    return { cert: await decodeCertificate(bytes), bytes }
  } catch (err: any) {
    throw new TeamError(`certificate file ${path}: ${err.message}`, TeamErrorCode.BAD_FILE)
  }
}

/**
 * What a node starts with: its team and its own certificate, checked — the certificate must
 * be of that team, for this node's key, and valid now — so a wrong file fails at start, with
 * one line, not later as refusals from every peer.
 */
export async function loadMembership (o: { descriptor: string, certificate: string, key: Uint8Array, now: number }): Promise<{ team: TeamDescriptor, cert: Certificate, bytes: Uint8Array }> {
  const team = await readTeamDescriptor(o.descriptor)
  const { cert, bytes } = await readCertificate(o.certificate)
  if (publicKeyText(cert.root) !== team.rootKey) throw new TeamError(`certificate ${o.certificate} is of team "${cert.team}" (${publicKeyText(cert.root)}), not of "${team.name}" (${o.descriptor})`, TeamErrorCode.WRONG_KEY)
  if (Buffer.compare(cert.subject, o.key) !== 0) throw new TeamError(`certificate ${o.certificate} is for ${peerIdOfKey(cert.subject)}, not for this node (${peerIdOfKey(o.key)}): admit this node's id ("aas node id")`, TeamErrorCode.WRONG_KEY)
  if (o.now >= cert.expires) throw new TeamError(`certificate ${o.certificate} expired at ${new Date(cert.expires).toISOString()}: ask the team admin for a new one ("aas team admit")`, TeamErrorCode.BAD_FILE)
  return { team, cert, bytes }
}
