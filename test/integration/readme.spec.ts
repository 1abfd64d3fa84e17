import { access, mkdir, readFile, readdir } from 'node:fs/promises'
import { dirname, join, relative, resolve } from 'node:path'
import { expect } from 'chai'
import { REPO, runCli, startCliNode, tempDir, type CliNode } from '../utils/cli-node.js'

/**
 * The README is tested: a renamed command or flag, a changed output or a broken link fails
 * the suite. Three checks:
 * - every `aas …` command the README shows (shell blocks, the command table, inline code)
 *   names a command whose `--help` lists each flag it uses;
 * - the shell examples that need nothing outside this machine run against a real local node
 *   (its data dir in a temporary `~/.aas`; the README's addresses and paths mapped onto it)
 *   and exit as the README says; where the README shows output, the output has that shape
 *   (numbers, hashes, times and `…` stand for whatever the node says);
 * - every relative link in the README and `docs/` leads to a file inside the repository.
 */
const README = join(REPO, 'README.md')

/** A command line of a shell block with the output lines shown after it. */
interface Example { line: string, output: string[], exit: number }

/** The `sh` blocks: each `aas`/`npm`/`bash` command with the output lines that follow it. */
function shellExamples (text: string): Example[] {
  const out: Example[] = []
  for (const block of text.matchAll(/```sh\n([\s\S]*?)```/g)) {
    const lines = block[1].replace(/\\\n\s*/g, '').split('\n')
    for (const raw of lines) {
      if (raw.trim() === '') continue
      const [code, comment = ''] = splitComment(raw)
      if (/^(aas|npm|bash|curl) /.test(code)) {
        out.push({ line: code.trim(), output: [], exit: 0 })
      } else if (out.length > 0) {
        const last = out[out.length - 1]
        last.output.push(code.trimEnd())
        const exit = /exit (\d)/.exec(comment)
        if (exit != null) last.exit = Number(exit[1])
      }
    }
  }
  return out
}

/** A line and its trailing `# comment` (a `#` after two spaces; `#` inside output is kept). */
function splitComment (line: string): [string, string?] {
  const at = line.search(/\s{2,}# /)
  return at < 0 ? [line] : [line.slice(0, at), line.slice(at)]
}

/** Every `aas …` the README names: shell lines, the command table's cells, inline code. */
function commandMentions (text: string): string[] {
  const found = new Set<string>()
  for (const e of shellExamples(text)) {
    for (const part of e.line.split(/\s*&&\s*/)) if (part.startsWith('aas ')) found.add(part)
  }
  for (const span of text.matchAll(/`(aas [^`]+)`/g)) {
    for (const one of span[1].split(/\s+\/\s+(?=aas )/)) found.add(one.replace(/\\\|/g, '|'))
  }
  return [...found]
}

/** The command words of a mention (`aas task submit …` → ['task', 'submit']) and its flags. */
function parseMention (mention: string): { path: string[], flags: string[] } {
  const words = mention.split(/\s+/).slice(1)
  const path: string[] = []
  for (const w of words) {
    if (!/^[a-z][a-z-]*$/.test(w)) break
    path.push(w)
  }
  const flags = [...mention.matchAll(/(?:^|[\s[|(])(--?[a-zA-Z][a-z-]*)/g)].map(m => m[1])
  return { path, flags: [...new Set(flags)] }
}

/**
 * An expected output line as a pattern: numbers, hex digests and ISO times match any value of
 * their kind, `…` matches anything, runs of two or more spaces separate columns.
 */
function shape (line: string): RegExp {
  const column = (c: string): string => {
    if (/^[0-9a-f]{8,}$/.test(c)) return '[0-9a-f]+'
    return c.split('…').map(part => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/\d+/g, '\\d+')).join('.*')
  }
  return new RegExp(`^\\s*${line.trim().split(/\s{2,}/).map(column).join('\\s{2,}')}$`)
}

describe('the README', function () {
  this.timeout(240_000)
  const text = readFile(README, 'utf8')
  const helps = new Map<string, Promise<{ code: number | null, stdout: string }>>()
  const help = async (path: string[]): Promise<{ code: number | null, stdout: string }> => {
    const key = path.join(' ')
    if (!helps.has(key)) helps.set(key, runCli([...path, '--help']))
    return await helps.get(key)!
  }

  it('names only commands and flags that exist (each checked against its --help)', async function () {
    const mentions = commandMentions(await text)
    expect(mentions.length, 'commands found in the README').to.be.greaterThan(20)
    const problems: string[] = []
    for (const m of mentions) {
      const { path, flags } = parseMention(m)
      const h = await help(path)
      if (h.code !== 0) { problems.push(`${m}: "aas ${path.join(' ')} --help" exits ${String(h.code)}`); continue }
      // a group's help lists subcommands, not flags: the README must name a leaf command
      if (/^Commands:/m.test(h.stdout) && flags.some(f => f !== '--help')) { problems.push(`${m}: "aas ${path.join(' ')}" is a group, not a command`); continue }
      for (const f of flags) {
        if (!new RegExp(`(^|[\\s,])${f.replace(/-/g, '\\-')}([\\s,=]|$)`, 'm').test(h.stdout)) problems.push(`${m}: "aas ${path.join(' ')}" has no ${f}`)
      }
    }
    expect(problems).to.deep.equal([])
  })

  it('names only npm scripts that exist', async function () {
    const pkg = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
    const used = [...(await text).matchAll(/npm (?:run ([a-z:-]+)|(test))\b/g)].map(m => m[1] ?? m[2])
    expect(used.length).to.be.greaterThan(2)
    for (const s of used) expect(pkg.scripts, `npm script "${s}"`).to.have.property(s)
  })

  it('links only to files inside the repository', async function () {
    const docs = (await readdir(join(REPO, 'docs'))).filter(f => f.endsWith('.md')).map(f => join(REPO, 'docs', f))
    const broken: string[] = []
    for (const file of [README, ...docs]) {
      const body = await readFile(file, 'utf8')
      for (const m of body.matchAll(/\]\(([^)\s]+)\)/g)) {
        const href = m[1]
        if (href.startsWith('#')) continue
        if (/^[a-z]+:/i.test(href)) { broken.push(`${relative(REPO, file)}: ${href} leaves the repository`); continue }
        const target = resolve(dirname(file), href.split('#')[0])
        if (relative(REPO, target).startsWith('..')) { broken.push(`${relative(REPO, file)}: ${href} points outside the repository`); continue }
        await access(target).catch(() => { broken.push(`${relative(REPO, file)}: ${href} does not exist`) })
      }
      // a path to a sibling checkout is a link too, even when not written as one
      if (/\.\.\/shared\b/.test(body)) broken.push(`${relative(REPO, file)}: mentions ../shared`)
    }
    expect(docs.map(f => relative(REPO, f))).to.include.members(['docs/architecture.md', 'docs/operations.md'])
    expect(broken).to.deep.equal([])
  })

  describe('its shell examples, run against a local node', function () {
    let home: { path: string, remove: () => Promise<void> }
    let node: CliNode
    let elsewhere: string

    before(async function () {
      home = await tempDir('aas-readme-')
      elsewhere = join(home.path, 'elsewhere')
      // the README's "node on ~/.aas": a node whose data dir is the test's own ~/.aas
      node = await startCliNode({ dataDir: join(home.path, '.aas'), args: ['--slots', '0'] })
      await mkdir(elsewhere)
    })

    after(async function () {
      await node?.stop()
      await home?.remove()
    })

    /** The README's example addresses and paths, mapped onto the test's node and folders. */
    const localise = (line: string): string[] => line
      .replaceAll('http://127.0.0.1:7401', node.api)
      .replaceAll('/srv/aas', node.dataDir)
      .replaceAll('/mnt/elsewhere', elsewhere)
      .split(/\s+/).slice(1)

    /**
     * Which examples can run here: not `node start` (it runs until stopped), not `--follow`
     * (likewise), not ones whose shown output is an error of a state this node is not in;
     * those are checked with --help by the test above.
     */
    const runnable = (e: Example): boolean => e.line.startsWith('aas ') && !/^aas node start\b/.test(e.line) && !e.line.includes('--follow') && !e.output.some(o => o.startsWith('aas:'))

    it('run, exit as shown and print what the README shows', async function () {
      const examples = shellExamples(await text).filter(runnable)
      const ran = examples.map(e => e.line)
      expect(ran, 'examples that run here').to.include.members(['aas node status', 'aas audit tail -n 4', 'aas audit export --out audit.jsonl'])
      for (const e of examples) {
        const r = await runCli(localise(e.line), { env: { HOME: home.path }, cwd: home.path, timeoutMs: 60_000 })
        expect(r.code, `${e.line}: exit code (stderr: ${r.stderr})`).to.equal(e.exit)
        if (e.output.length === 0) continue
        const got = r.stdout.trimEnd().split('\n')
        expect(got.length, `${e.line}: at most the ${e.output.length} line(s) shown, got:\n${r.stdout}`).to.be.within(1, e.output.length)
        const shapes = e.output.map(shape)
        for (const g of got) expect(shapes.some(s => s.test(g)), `${e.line}: "${g}" has none of the shapes shown:\n${e.output.join('\n')}`).to.equal(true)
      }
    })
  })
})
