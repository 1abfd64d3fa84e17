import { readFile, stat } from 'node:fs/promises'
import { Command } from 'commander'
import { AasError, UsageError } from '../../../protocol/errors.js'
import { emit } from '../output.js'
import { registerSkillAuthoring } from './skill-init.js'

/**
 * The `aas skill` group. Other files attach more subcommands with `skillCommand(program)`,
 * which returns the same group.
 */
export function skillCommand (program: Command): Command {
  return program.commands.find(c => c.name() === 'skill') ?? program.command('skill').description('write, test, run, pack and publish skills')
}

/** `--input JSON` or `--input @FILE` (`@-` for stdin). */
export async function readInput (value: string): Promise<unknown> {
  let text = value
  if (value.startsWith('@')) {
    const file = value.slice(1)
    try {
      text = file === '-' ? await readStdin() : await readFile(file, 'utf8')
    } catch (err: any) {
      throw new UsageError(`--input: cannot read ${file} (${err.code ?? err.message})`)
    }
  }
  try {
    return JSON.parse(text)
  } catch (err: any) {
    throw new UsageError(`--input is not valid JSON (${err.message}); pass JSON or @FILE`)
  }
}

async function readStdin (): Promise<string> {
  const chunks: Buffer[] = []
  for await (const c of process.stdin) chunks.push(c as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

function positive (flag: string) {
  return (v: string): number => {
    const n = Number(v)
    if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${flag}: "${v}" is not a positive number`)
    return n
  }
}

/**
 * A sandbox runner with the node's policy (`--config` or `AAS_CONFIG`, then `AAS_*` environment): the same
 * limits and images a node would apply, so a local run shows what the mesh would do.
 */
export async function configuredRunner (configFile?: string): Promise<import('../../../skills/sandbox/index.js').SandboxRunner> {
  const [{ clientConfig }, { SandboxRunner }] = await Promise.all([import('../api-client.js'), import('../../../skills/sandbox/index.js')])
  const config = await clientConfig({ config: configFile })
  return new SandboxRunner({ ...config.sandbox })
}

/**
 * A folder is run as it is; anything else that reads as `NAME[@RANGE]` or a CID is fetched
 * (and verified) by the local node, which runs only releases of authors it trusts.
 */
async function skillSource (ref: string, opts: { api?: string, data?: string, json?: boolean }): Promise<string | { bundle: Uint8Array }> {
  const st = await stat(ref).catch(() => null)
  if (st != null || ref.includes('/') || !/^(b[a-z2-7]{20,}|[a-z][a-z0-9-]*(@.+)?)$/.test(ref)) return ref
  const [{ resolveApiUrl }, { fetchWithProgress }, { bundleCid }] = await Promise.all([import('../api-client.js'), import('../fetch-progress.js'), import('../../../skills/bundle/index.js')])
  const result = await fetchWithProgress(await resolveApiUrl(opts), ref, opts.json !== true && process.stderr.isTTY)
  // run the bundle the node verified, checked once more here: not whatever its unpacked copy holds now
  const bundle = await readFile(result.blob).catch(() => {
    throw new UsageError(`cannot read ${result.blob}: running NAME or CID needs the node on this machine (or give a skill folder)`)
  })
  if (bundleCid(bundle).toString() !== result.cid) throw new AasError(`the cached bundle ${result.cid} does not match its CID; fetch it again with "aas skill fetch"`, 'ERR_CID_MISMATCH')
  return { bundle }
}

export function registerSkill (program: Command): void {
  const skill = skillCommand(program)

  skill.command('run <skill>')
    .description('run a skill once in the local sandbox: a folder, or NAME[@RANGE]|CID fetched through the local node')
    .requiredOption('--input <json|@file>', 'input JSON, or @FILE to read it from a file')
    .option('--timeout <s>', 'wall-clock timeout in seconds (capped by policy)', positive('--timeout'))
    .option('--memory <mb>', 'memory limit in MB (capped by policy)', positive('--memory'))
    .option('--output-dir <dir>', 'copy the files the skill leaves in /output here')
    .option('--config <file>', 'node config file whose sandbox policy applies [env AAS_CONFIG]')
    .option('--api <url>', 'node to fetch NAME[@RANGE]|CID through [default: the node on --data, env AAS_API]')
    .option('--data <dir>', 'data directory of the local node [default: ~/.aas]')
    .option('--json', 'print the run result as one JSON object')
    .action(async (ref: string, opts) => {
      const input = await readInput(opts.input)
      const dir = await skillSource(ref, opts)
      const runner = await configuredRunner(opts.config)
      const wish: Record<string, number> = {}
      if (opts.timeout != null) wish.timeoutS = opts.timeout
      if (opts.memory != null) wish.memoryMB = Math.round(opts.memory)
      const r = await runner.run(dir, input, wish, { outputDir: opts.outputDir })
      emit(opts.json === true, r, () => [
        `${r.status}${r.error != null ? `: ${r.error}` : ''}  (exit ${String(r.exitCode)}, ${r.durationMs} ms, ${r.runtime} on ${r.image})`,
        ...(r.status === 'succeeded' ? [JSON.stringify(r.output, null, 2)] : []),
        ...(r.files.length > 0 ? [`files: ${r.files.map(f => `${f.path} (${f.size} B)`).join(', ')}`] : []),
        ...(r.status !== 'succeeded' && r.stderrTail !== '' ? ['stderr (end):', r.stderrTail.trimEnd()] : [])
      ].join('\n'))
      if (r.status !== 'succeeded') process.exitCode = 1
    })

  skill.command('test <dir>')
    .description("run every test case of the skill's manifest in the sandbox")
    .option('--config <file>', 'node config file whose sandbox policy applies [env AAS_CONFIG]')
    .option('--json', 'print the report as JSON')
    .action(async (dir: string, opts) => {
      const { testSkill } = await import('../../../skills/sandbox/test-skill.js')
      const report = await testSkill(dir, await configuredRunner(opts.config))
      emit(opts.json === true, report, () => [
        ...report.cases.map(c => `${c.passed ? 'ok  ' : 'FAIL'} #${c.index + 1} ${c.status}${c.passed ? '' : `: ${c.reason}`}  (${c.durationMs} ms)`),
        `${report.name}@${report.version}: ${report.passed} of ${report.cases.length} passed`
      ].join('\n'))
      if (!report.ok) process.exitCode = 1
    })

  registerSkillAuthoring(skill)
}
