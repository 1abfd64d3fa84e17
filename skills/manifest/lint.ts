import { ManifestError } from './errors.js'
import { checkEntrypoint, checkTree, manifestProblems, readManifestFile, MANIFEST_FILE, type ManifestProblem } from './load.js'

/**
 * The publishing gate's lint, on its own (`aas skill lint`): everything `skill publish` checks
 * before it runs the tests, listed in full rather than stopped at the first problem, so an
 * author fixes a folder in one pass. The checks are load.ts's own: the manifest schema, the
 * skill's input/output schemas compile, the entrypoint is a regular file inside the folder,
 * no symlinks or special files; and, as the gate requires, at least one `tests` case.
 */
export async function lintSkill (dir: string): Promise<ManifestProblem[]> {
  let read: Awaited<ReturnType<typeof readManifestFile>>
  try {
    read = await readManifestFile(dir)
  } catch (err) {
    // no folder, no skill.json or no JSON: nothing further can be checked
    if (err instanceof ManifestError) return [{ field: err.field ?? MANIFEST_FILE, message: err.message }]
    throw err
  }
  const { root, value } = read
  const problems = manifestProblems(value)
  const m = (value != null && typeof value === 'object' && !Array.isArray(value) ? value : {}) as Record<string, unknown>
  const found = async (check: () => Promise<void>): Promise<void> => {
    try {
      await check()
    } catch (err) {
      if (!(err instanceof ManifestError)) throw err
      // load.ts's messages name the file and field for a person; here the field is a column of its own
      problems.push({ field: err.field ?? '(folder)', message: err.message.replace(/^skill\.json: field "[^"]*":? /, '') })
    }
  }
  if (typeof m.entrypoint === 'string' && m.entrypoint !== '') await found(async () => { await checkEntrypoint(root, m.entrypoint as string) })
  await found(async () => { await checkTree(root) })
  if (Array.isArray(m.tests) && m.tests.length === 0) problems.push({ field: 'tests', message: 'has no cases: publishing needs at least one {input, expect} case' })
  if (m.tests === undefined) problems.push({ field: 'tests', message: 'is missing: publishing needs at least one {input, expect} case' })
  return problems
}
