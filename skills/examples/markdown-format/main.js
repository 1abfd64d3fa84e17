'use strict'
/**
 * markdown-format: tidies Markdown without changing what it says. Outside fenced code blocks:
 * trailing whitespace removed, `#Heading` → `# Heading` with one blank line around headings,
 * Setext headings (underlined with === or ---) turned into ATX, `*`/`+` bullets → `-`,
 * ordered lists renumbered 1., 2., 3., runs of blank lines collapsed to one, tabs in
 * indentation expanded, exactly one newline at the end. Fenced code is left byte for byte.
 * Optionally builds a table of contents from the headings.
 *
 * Input (stdin): {"markdown": TEXT, "toc": false, "tocMaxLevel": 3}
 * Output (stdout): {"markdown": TEXT, "changed": BOOL, "headings": [{"level", "text"}], "toc": TEXT|null}
 */
const { readFileSync } = require('node:fs')

const req = JSON.parse(readFileSync(0, 'utf8'))
const input = req.markdown
const lines = input.replace(/\r\n?/g, '\n').split('\n')
const out = []
const headings = []
let fence = null
let listCounters = new Map() // indent → next number

const pushBlank = () => { if (out.length > 0 && out[out.length - 1] !== '') out.push('') }
const heading = (level, text) => {
  headings.push({ level, text })
  pushBlank()
  out.push('#'.repeat(level) + ' ' + text)
  out.push('')
}

for (let i = 0; i < lines.length; i++) {
  const raw = lines[i]
  const fenceMatch = /^\s*(```+|~~~+)/.exec(raw)
  if (fence != null) {
    out.push(raw)
    if (fenceMatch != null && fenceMatch[1][0] === fence[0] && fenceMatch[1].length >= fence.length) fence = null
    continue
  }
  if (fenceMatch != null) {
    fence = fenceMatch[1]
    out.push(raw.trimEnd())
    continue
  }
  let line = raw.replace(/^\t+/, t => '    '.repeat(t.length)).trimEnd()
  if (line === '') { if (out.length > 0 && out[out.length - 1] !== '') out.push(''); listCounters = new Map(); continue }
  const next = (lines[i + 1] ?? '').trim()
  if (/^(=+|-+)$/.test(next) && !/^\s*([-*+]|\d+[.)])\s/.test(line) && (out.length === 0 || out[out.length - 1] === '')) {
    heading(next[0] === '=' ? 1 : 2, line.trim())
    i++
    continue
  }
  const atx = /^\s{0,3}(#{1,6})\s*(.*?)\s*#*\s*$/.exec(line)
  if (atx != null && atx[2] !== '') { heading(atx[1].length, atx[2]); continue }
  const bullet = /^(\s*)[*+-]\s+(.*)$/.exec(line)
  if (bullet != null && !/^\s*([-*_])(\s*\1){2,}\s*$/.test(line)) line = `${bullet[1]}- ${bullet[2]}`
  const ordered = /^(\s*)\d+[.)]\s+(.*)$/.exec(line)
  if (ordered != null) {
    const indent = ordered[1].length
    for (const k of [...listCounters.keys()]) if (k > indent) listCounters.delete(k)
    const n = listCounters.get(indent) ?? 1
    listCounters.set(indent, n + 1)
    line = `${ordered[1]}${n}. ${ordered[2]}`
  }
  out.push(line)
}
while (out.length > 0 && out[0] === '') out.shift()
while (out.length > 0 && out[out.length - 1] === '') out.pop()
const markdown = out.length === 0 ? '' : out.join('\n') + '\n'

let toc = null
if (req.toc === true) {
  const max = req.tocMaxLevel ?? 3
  const slug = (t) => t.toLowerCase().replace(/[^\p{L}\p{N}\s-]/gu, '').trim().replace(/\s+/g, '-')
  const shown = headings.filter(h => h.level <= max)
  const top = Math.min(...shown.map(h => h.level))
  toc = shown.map(h => `${'  '.repeat(h.level - top)}- [${h.text}](#${slug(h.text)})`).join('\n') + (shown.length > 0 ? '\n' : '')
}
process.stdout.write(JSON.stringify({ markdown, changed: markdown !== input, headings, toc }))
