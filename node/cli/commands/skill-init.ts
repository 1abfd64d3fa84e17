import { chmod, mkdtemp, readdir, rename, rm, stat, writeFile } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import { Option, type Command } from 'commander'
import { UsageError } from '../../../protocol/errors.js'
import { emit } from '../output.js'

/**
 * `aas skill init` and `aas skill lint`: an author's first and most frequent commands. Init
 * writes a working folder from skills/templates; lint is the publish gate's lint alone, from
 * skills/manifest, with every problem listed.
 */
export function registerSkillAuthoring (skill: Command): void {
  skill.command('init <name>')
    .description('write a new skill folder that passes "aas skill test" as created: manifest with schemas, entrypoint, one test case, README')
    .addOption(new Option('--runtime <runtime>', 'the runtime the skill runs on').choices(['python3', 'node', 'sh']).makeOptionMandatory())
    .option('--dir <dir>', 'the folder to create (must not exist, or be empty) [default: ./NAME]')
    .option('--json', 'print {dir, name, runtime, files} as JSON')
    .action(async (name: string, opts) => {
      const [{ skillTemplate }, { manifestSchema }] = await Promise.all([import('../../../skills/templates/index.js'), import('../../../skills/manifest/index.js')])
      const rule = manifestSchema.properties.name // the manifest's own rule, so init never writes a name lint refuses
      if (!new RegExp(rule.pattern).test(name) || name.length < rule.minLength || name.length > rule.maxLength) {
        throw new UsageError(`skill name "${name}" must be ${rule.minLength} to ${rule.maxLength} characters of lowercase words joined by dashes (like word-count)`)
      }
      const dir = resolve(opts.dir ?? name)
      const files = skillTemplate(name, opts.runtime)
      await createAtomically(dir, files)
      const out = { dir, name, runtime: opts.runtime as string, files: files.map(f => f.path) }
      emit(opts.json === true, out, () => `created ${dir} (${out.runtime}): ${out.files.join(', ')}\nnext: aas skill test ${opts.dir ?? name}`)
    })

  skill.command('lint <dir>')
    .description("the publish gate's lint alone: manifest schema, entrypoint, tests present, schemas compile; every problem with its field")
    .option('--json', 'print {ok, problems: [{field, message}]} as JSON')
    .action(async (dir: string, opts) => {
      const { lintSkill } = await import('../../../skills/manifest/index.js')
      const problems = await lintSkill(dir)
      emit(opts.json === true, { ok: problems.length === 0, problems }, () => problems.length === 0 ? 'ok' : problems.map(p => `${p.field}: ${p.message}`).join('\n'))
      if (problems.length > 0) process.exitCode = 1
    })
}

/**
 * Builds the folder in a temp dir beside the target, then renames it into place: a failure
 * part-way leaves nothing behind, and a folder that is there is complete. An existing empty
 * target is filled in place instead, file by file.
 */
async function createAtomically (dir: string, files: Array<{ path: string, text: string }>): Promise<void> {
  const st = await stat(dir).catch(() => null)
  if (st != null) {
    if (!st.isDirectory()) throw new UsageError(`${dir} exists and is not a folder`)
    if ((await readdir(dir)).length > 0) throw new UsageError(`${dir} exists and is not empty; give a new folder with --dir`)
  }
  const parent = dirname(dir)
  const pst = await stat(parent).catch(() => null)
  if (pst == null || !pst.isDirectory()) throw new UsageError(`${parent} does not exist; create it first or give another --dir`)
  const tmp = await mkdtemp(join(parent, `.${basename(dir)}.init-`))
  try {
    for (const f of files) await writeFile(join(tmp, f.path), f.text, { mode: 0o644, flag: 'wx' })
    if (st == null) {
      await chmod(tmp, 0o755) // mkdtemp makes it 0700
      await rename(tmp, dir)
    } else {
      // an existing empty folder keeps its place (a shell may stand in it) and its mode: the
      // finished files move in one by one; on a failure the ones moved are taken out again
      const moved: string[] = []
      try {
        for (const f of files) { await rename(join(tmp, f.path), join(dir, f.path)); moved.push(f.path) }
      } catch (err) {
        await Promise.all(moved.map(async f => await rm(join(dir, f), { force: true })))
        throw err
      }
      await rm(tmp, { recursive: true, force: true })
    }
  } catch (err: any) {
    await rm(tmp, { recursive: true, force: true })
    if (err?.code === 'ENOTEMPTY' || err?.code === 'EEXIST') throw new UsageError(`${dir} exists and is not empty; give a new folder with --dir`)
    throw err
  }
}
