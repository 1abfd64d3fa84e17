import type { ReviewItem } from '../review/index.js'
import { CSRF_FIELD } from './auth-routes.js'

/**
 * The reviewer pages' HTML, rendered on the server: no script runs in them (the CSP forbids
 * it), every value written into a page goes through `esc`, and every form that changes
 * something carries the session's CSRF token as the hidden `_csrf` field.
 */

/** A value as HTML text or attribute value: the five characters that could end either are escaped. */
export function esc (v: unknown): string {
  return String(v ?? '').replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`)
}

const json = (v: unknown): string => esc(JSON.stringify(v, null, 2) ?? 'null')

const STYLE = `
body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 60rem; padding: 1rem 1.5rem; color: #1b1b1b }
header { display: flex; justify-content: space-between; align-items: center; border-bottom: 1px solid #ccc; margin-bottom: 1rem }
header form { margin: 0 }
table { border-collapse: collapse; width: 100% }
th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid #e4e4e4; vertical-align: top }
pre { background: #f5f5f5; padding: .6rem; overflow: auto; max-height: 24rem }
textarea { width: 100%; font-family: ui-monospace, monospace }
label { display: block; margin: .4rem 0 }
.note { padding: .5rem .8rem; border-radius: 4px; margin: .8rem 0 }
.ok { background: #e3f4e1 } .err { background: #fbe3e3 } .held { background: #fff4d6 }
.actions { display: grid; grid-template-columns: 1fr 1fr; gap: 1rem }
.actions form { border: 1px solid #ddd; padding: .6rem .8rem; border-radius: 4px }
`

export interface PageViewer { name: string, csrf: string }

const csrfInput = (v: PageViewer): string => `<input type="hidden" name="${CSRF_FIELD}" value="${esc(v.csrf)}">`

/** The frame of every page: title, who is logged in and a logout button. */
export function layout (title: string, body: string, viewer?: PageViewer): string {
  const who = viewer != null
    ? `<form method="post" action="/review/logout">${csrfInput(viewer)}<span>${esc(viewer.name)}</span> <button type="submit">Log out</button></form>`
    : ''
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)} · AAS review</title><style>${STYLE}</style></head>
<body><header><h1><a href="/review">AAS review</a></h1>${who}</header>
<main>${body}</main></body></html>`
}

const note = (kind: 'ok' | 'err' | 'held', text: string): string => `<p class="note ${kind}" role="${kind === 'err' ? 'alert' : 'status'}">${esc(text)}</p>`

export function loginPage (error?: string, user = ''): string {
  return layout('Log in', `
<h2>Log in</h2>
${error != null ? note('err', error) : ''}
<form method="post" action="/review/login" autocomplete="off">
  <label>User <input name="user" value="${esc(user)}" required maxlength="64" autofocus></label>
  <label>Password <input name="password" type="password" required maxlength="1024"></label>
  <label>Code from your authenticator app <input name="code" inputmode="numeric" pattern="[0-9]{6}" required maxlength="16"></label>
  <button type="submit">Log in</button>
</form>`)
}

/** A refusal (no role, no CSRF token, no such task): the reason and the way back. */
export function refusalPage (title: string, message: string, viewer?: PageViewer): string {
  return layout(title, `<h2>${esc(title)}</h2>${note('err', message)}<p><a href="/review">Back to the queue</a></p>`, viewer)
}

/** "42 s", "5 min", "3 h", "2 d". */
export function age (seconds: number): string {
  if (seconds < 120) return `${seconds} s`
  if (seconds < 7200) return `${Math.floor(seconds / 60)} min`
  if (seconds < 2 * 86_400) return `${Math.floor(seconds / 3600)} h`
  return `${Math.floor(seconds / 86_400)} d`
}

const who = (actor: string | null | undefined): string => actor == null ? '' : actor.replace(/^user:/, '')

export function queuePage (items: ReviewItem[], viewer: PageViewer, done?: string): string {
  const rows = items.map(t => `<tr data-task="${esc(t.id)}">
  <td><a href="/review/tasks/${encodeURIComponent(t.id)}" title="${esc(t.id)}"><code>${esc(t.id.slice(0, 14))}…</code></a></td><td>${esc(t.skill)}</td><td>${esc(age(t.ageS))}</td>
  <td>${esc(t.cause)}: ${esc(t.reason)}</td><td>${esc(t.tier)}</td><td>${esc(t.attempts)}</td><td>${t.holder != null ? `held by ${esc(who(t.holder))}` : 'free'}</td></tr>`).join('\n')
  return layout('Queue', `
<h2>Tasks waiting for a person</h2>
${done != null ? note('ok', done) : ''}
${items.length === 0
    ? '<p id="empty">Nothing waits for review.</p>'
    : `<table id="queue"><thead><tr><th>Task</th><th>Skill</th><th>Waiting</th><th>Why</th><th>Tier</th><th>Attempts</th><th>Holder</th></tr></thead><tbody>
${rows}
</tbody></table>`}`, viewer)
}

/** What ReviewQueue.show returns, as far as the page reads it. */
export interface TaskShown {
  id: string
  state: string
  skill: { name: string, version: string }
  description: string | null
  tier: number
  attempts: number
  maxAttempts: number
  input: unknown
  output: unknown
  error: string | null
  outputSchema: unknown
  attemptsLog: Array<{ attempt: number, executor: string, status?: string, error?: string }>
  review: { cause: string, reason: string, since: number, holder: string | null, holdUntil: number | null, resolvedBy?: string, annotation?: string, reuse?: boolean } | null
}

/** What the reviewer typed, put back in the form when the node refused it. */
export interface ResolveDraft { output: string, annotation: string, reuse: boolean, reason: string, fix: string }

export const EMPTY_DRAFT: ResolveDraft = { output: '{}', annotation: '', reuse: false, reason: '', fix: '' }

export function taskPage (t: TaskShown, viewer: PageViewer, now: number, flash: { done?: string, error?: string } = {}, draft: ResolveDraft = EMPTY_DRAFT): string {
  const r = t.review
  const heldNow = r?.holder != null && (r.holdUntil ?? 0) >= now
  const mine = heldNow && r?.holder === `user:${viewer.name}`
  const action = (what: string): string => `/review/tasks/${encodeURIComponent(t.id)}/${what}`
  const attempts = t.attemptsLog.map(a => `<tr><td>${esc(a.attempt)}</td><td><code>${esc(a.executor)}</code></td><td>${esc(a.status ?? 'running')}</td><td>${esc(a.error ?? '')}</td></tr>`).join('\n')

  const hold = r == null || t.state !== 'needs-review'
    ? ''
    : heldNow
      ? note(mine ? 'ok' : 'held', mine ? `You hold this task until ${new Date(r.holdUntil ?? 0).toISOString()}.` : `Held by ${who(r.holder)} until ${new Date(r.holdUntil ?? 0).toISOString()}.`)
      : note('held', 'Nobody holds this task: claim it to decide it.')

  const forms = t.state !== 'needs-review'
    ? `<h3>Outcome</h3><p id="outcome">${esc(t.state)}${r?.resolvedBy != null ? ` by ${esc(who(r.resolvedBy))}` : ''}</p>
${r?.annotation != null && r.annotation !== '' ? `<p>Annotation: ${esc(r.annotation)}</p>` : ''}
${t.output !== undefined && t.output !== null ? `<pre id="output">${json(t.output)}</pre>` : ''}${t.error != null ? note('err', t.error) : ''}`
    : `<h3>Decide</h3>
<div class="actions">
<form method="post" action="${action(mine ? 'release' : 'claim')}">${csrfInput(viewer)}
  <p>${mine ? 'Give the task back to the queue.' : 'Hold the task while you work on it.'}</p>
  <button type="submit" name="do" value="${mine ? 'release' : 'claim'}">${mine ? 'Release' : 'Claim'}</button>
</form>
<form method="post" action="${action('reject')}">${csrfInput(viewer)}
  <label>Reason <textarea name="reason" rows="3" required maxlength="4000">${esc(draft.reason)}</textarea></label>
  <p>The task ends failed with this reason.</p>
  <button type="submit">Reject</button>
</form>
<form method="post" action="${action('resolve')}" style="grid-column: 1 / 3">${csrfInput(viewer)}
  <label>Output (JSON matching the output schema) <textarea name="output" rows="6" required>${esc(draft.output)}</textarea></label>
  <label>Annotation <textarea name="annotation" rows="3" maxlength="4000">${esc(draft.annotation)}</textarea></label>
  <label><input type="checkbox" name="reuse" value="true"${draft.reuse ? ' checked' : ''}> Reuse this answer for identical inputs</label>
  <label>Fix (optional JSON, e.g. {"input": {"field": "value"}}: merged into the input and retried once when this failure comes back) <textarea name="fix" rows="2" maxlength="16384">${esc(draft.fix)}</textarea></label>
  <button type="submit">Resolve</button>
</form>
</div>`

  return layout(`Task ${t.id}`, `
<h2>Task <code>${esc(t.id)}</code></h2>
${flash.done != null ? note('ok', flash.done) : ''}${flash.error != null ? note('err', flash.error) : ''}
<table id="facts">
<tr><th>Skill</th><td>${esc(t.skill.name)}@${esc(t.skill.version)}${t.description != null ? ` — ${esc(t.description)}` : ''}</td></tr>
<tr><th>State</th><td id="state">${esc(t.state)}</td></tr>
<tr><th>Tier</th><td id="tier">${esc(t.tier)}</td></tr>
${r != null ? `<tr><th>Why it is here</th><td id="why">${esc(r.cause)}: ${esc(r.reason)} (since ${esc(new Date(r.since).toISOString())})</td></tr>` : ''}
<tr><th>Attempts</th><td>${esc(t.attempts)} (up to ${esc(t.maxAttempts)} a tier)</td></tr>
</table>
${hold}
<h3>Input</h3><pre id="input">${json(t.input)}</pre>
<h3>Attempts</h3>
<table id="attempts"><thead><tr><th>#</th><th>Executor</th><th>Status</th><th>Error</th></tr></thead><tbody>
${attempts}
</tbody></table>
<h3>Output schema</h3><pre id="schema">${json(t.outputSchema)}</pre>
${forms}
<p><a href="/review">Back to the queue</a></p>`, viewer)
}
