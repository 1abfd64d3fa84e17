import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { arch, release, tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { SandboxRunner, detectHost } from '../../skills/sandbox/index.js'
import { imageSpecs } from '../../skills/images/specs.js'
import { AAS_BIN, childEnv } from '../lib/child-node.js'
import { run, timed } from './sandbox.js'
import type { Benchmark, BenchContext, BenchResult } from './types.js'

/**
 * sandbox-start: start-to-result of a trivial python3 skill, four ways, alternated round by
 * round on the same image:
 * - the runner's `run()` in this process (every hardening flag);
 * - `aas skill run DIR` as a new CLI process (what a person types);
 * - a bare `podman run --rm` with only the flags this host needs (so with Podman's default
 *   network set up and its default log driver), and the same with `--network none
 *   --log-driver none`, which the runner also uses: the podman CLI's own floor;
 * - `runc run` straight on the image's rootfs (mounted by Podman), with the runner's policy
 *   written as an OCI spec: read-only root, uid 65534, no capabilities, no new privileges,
 *   new network/pid/ipc/uts/mount namespaces, memory/pids/cpu limits, ulimits, a noexec /tmp,
 *   and the same tightened seccomp profile (converted to the OCI form): the runtime's floor.
 */
const exec = promisify(execFile)
const SKILL = 'import json, sys\nprint(json.dumps({"echo": json.load(sys.stdin)}))\n'
const INPUT = { n: 1, text: 'hello' }

/** Podman's seccomp profile format (containers/common) → the OCI runtime spec's, for this host and no capabilities. */
export function ociSeccomp (profile: any): any {
  const goArch = ({ x64: 'amd64', arm64: 'arm64', s390x: 's390x', ppc64: 'ppc64le' } as Record<string, string>)[arch()] ?? arch()
  const scmpArch = ({ amd64: 'SCMP_ARCH_X86_64', arm64: 'SCMP_ARCH_AARCH64' } as Record<string, string>)[goArch]
  const entry = (profile.archMap ?? []).find((a: any) => a.architecture === scmpArch)
  const kernel = release().split(/[.-]/).map(Number)
  const atLeast = (v: string): boolean => {
    const want = v.split('.').map(Number)
    for (let i = 0; i < want.length; i++) if ((kernel[i] ?? 0) !== want[i]) return (kernel[i] ?? 0) > want[i]
    return true
  }
  const syscalls = (profile.syscalls ?? []).filter((r: any) => {
    if ((r.includes?.caps ?? []).length > 0) return false // needs a capability the sandbox has not got
    if (r.includes?.arches != null && !r.includes.arches.includes(goArch)) return false
    if (r.excludes?.arches?.includes(goArch) === true) return false
    if (r.includes?.minKernel != null && !atLeast(r.includes.minKernel)) return false
    return true
  }).map((r: any) => ({ names: r.names, action: r.action, ...(r.errnoRet != null ? { errnoRet: r.errnoRet } : {}), ...(r.args != null ? { args: r.args } : {}) }))
  return {
    defaultAction: profile.defaultAction,
    ...(profile.defaultErrnoRet != null ? { defaultErrnoRet: profile.defaultErrnoRet } : {}),
    architectures: entry != null ? [entry.architecture, ...(entry.subArchitectures ?? [])] : [],
    syscalls
  }
}

function ociSpec (rootfs: string, skillDir: string, seccomp: any, nproc: number): any {
  const limits = { memoryMB: 256, cpus: 1, pids: 64 }
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: 65534, gid: 65534 },
      args: [...imageSpecs.python3.command, '/skill/main.py'],
      env: ['PATH=/usr/local/bin:/usr/bin:/bin', 'HOME=/tmp', 'LANG=C.UTF-8', 'PYTHONDONTWRITEBYTECODE=1'],
      cwd: '/tmp',
      capabilities: { bounding: [], effective: [], inheritable: [], permitted: [], ambient: [] },
      rlimits: [
        { type: 'RLIMIT_NOFILE', hard: 256, soft: 256 }, { type: 'RLIMIT_NPROC', hard: nproc, soft: nproc },
        { type: 'RLIMIT_CORE', hard: 0, soft: 0 }
      ],
      noNewPrivileges: true
    },
    root: { path: rootfs, readonly: true },
    hostname: 'sandbox',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'noexec', 'mode=1777', 'size=65536k'] },
      { destination: '/skill', type: 'bind', source: skillDir, options: ['rbind', 'ro', 'rprivate'] }
    ],
    linux: {
      namespaces: ['pid', 'network', 'ipc', 'uts', 'mount'].map(type => ({ type })),
      resources: {
        memory: { limit: limits.memoryMB << 20, swap: limits.memoryMB << 20 },
        pids: { limit: limits.pids },
        cpu: { quota: limits.cpus * 100_000, period: 100_000 }
      },
      maskedPaths: ['/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware'],
      readonlyPaths: ['/proc/asound', '/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
      ...(seccomp != null ? { seccomp } : {})
    }
  }
}

const benchmark: Benchmark = {
  name: 'sandbox-start',
  description: 'start-to-result of a trivial skill: the runner and `aas skill run` vs bare podman run vs runc run on the same rootfs',
  async run (ctx: BenchContext): Promise<BenchResult[]> {
    const dir = await mkdtemp(join(tmpdir(), 'aas-bench-start-'))
    const ctr = `aas-bench-rootfs-${randomBytes(4).toString('hex')}`
    let created = false
    try {
      await chmod(dir, 0o755)
      const skill = join(dir, 'skill')
      await mkdir(skill, { mode: 0o755 })
      await chmod(skill, 0o755)
      await writeFile(join(skill, 'main.py'), SKILL, { mode: 0o644 })
      await writeFile(join(skill, 'skill.json'), JSON.stringify({ name: 'bench-start', version: '1.0.0', description: 'echo', runtime: 'python3', entrypoint: 'main.py' }), { mode: 0o644 })
      const runner = new SandboxRunner()
      await runner.start()
      const host = await detectHost()
      if (host.rootless) throw new Error('sandbox-start drives runc on Podman\'s rootfs: run it as root')
      const probe = await runner.run(skill, INPUT)
      if (probe.status !== 'succeeded') throw new Error(`the runner cannot run the bench skill: ${probe.status} ${probe.error ?? ''}`)
      const image = probe.image
      const input = JSON.stringify(INPUT)

      // the image's rootfs, as Podman itself would mount it for a container
      await exec('podman', ['create', '--name', ctr, image, 'true'])
      created = true
      const rootfs = (await exec('podman', ['mount', ctr])).stdout.trim()
      const seccomp = host.seccompProfile != null ? ociSeccomp(JSON.parse(await readFile(host.seccompProfile, 'utf8'))) : null
      const bundle = join(dir, 'bundle')
      await mkdir(bundle)
      await writeFile(join(bundle, 'config.json'), JSON.stringify(ociSpec(rootfs, skill, seccomp, host.nprocLimit)))
      const state = join(dir, 'runc-state')
      const runc = existsSync('/usr/sbin/runc') ? '/usr/sbin/runc' : 'runc'
      const runcRun = async (): Promise<void> => {
        await run(runc, ['--root', state, 'run', '--bundle', bundle, `aas-bench-${randomBytes(6).toString('hex')}`], input)
      }
      await runcRun() // the spec is sound before anything is timed

      const bare = ['--runtime', host.ociRuntime, 'run', '--rm', '-i', '--pull', 'never',
        '--ulimit', 'nofile=256:256', '--ulimit', 'nproc=1024:1024',
        '-v', `${skill}:/skill:ro`, image, ...imageSpecs.python3.command, '/skill/main.py']
      const bareNoNet = [...bare.slice(0, 4), '--network', 'none', '--log-driver', 'none', ...bare.slice(4)]
      const cli = [AAS_BIN, 'skill', 'run', skill, '--input', input, '--json']
      const cliEnv = childEnv()
      const s = { runner: [] as number[], cli: [] as number[], podman: [] as number[], podmanNoNet: [] as number[], runc: [] as number[] }
      for (let i = 0; i < ctx.warmup + ctx.rounds; i++) {
        if (ctx.signal.aborted) throw new Error('benchmark interrupted')
        const a = await timed(async () => {
          const r = await runner.run(skill, INPUT)
          if (r.status !== 'succeeded') throw new Error(`runner: ${r.status} ${r.error ?? ''}`)
        })
        const b = await timed(async () => { await run(process.execPath, cli, '', cliEnv) })
        const c = await timed(async () => { await run('podman', bare, input) })
        const d = await timed(runcRun)
        const e = await timed(async () => { await run('podman', bareNoNet, input) })
        if (i >= ctx.warmup) { s.runner.push(a); s.cli.push(b); s.podman.push(c); s.runc.push(d); s.podmanNoNet.push(e) }
      }
      ctx.log(`sandbox-start: ${ctx.rounds} rounds on ${image} with ${host.ociRuntime} (cgroup ${host.cgroupVersion}), runc ${seccomp != null ? 'with' : 'without'} the seccomp profile`)
      return [
        { name: 'sandbox-start-runner-vs-runc', unit: 'ms', samples: s.runner, baseline: s.runc, extra: { baselineIs: 'runc run on the same rootfs, same policy' } },
        { name: 'sandbox-start-runner-vs-podman', unit: 'ms', samples: s.runner, baseline: s.podman, extra: { baselineIs: 'bare podman run --rm' } },
        { name: 'sandbox-start-cli-vs-podman', unit: 'ms', samples: s.cli, baseline: s.podman, extra: { baselineIs: 'bare podman run --rm', subjectIs: 'aas skill run DIR' } },
        { name: 'sandbox-start-cli-vs-podman-nonet', unit: 'ms', samples: s.cli, baseline: s.podmanNoNet, extra: { baselineIs: 'podman run --rm --network none --log-driver none', subjectIs: 'aas skill run DIR' } },
        { name: 'sandbox-start-runner-vs-podman-nonet', unit: 'ms', samples: s.runner, baseline: s.podmanNoNet, extra: { baselineIs: 'podman run --rm --network none --log-driver none' } },
        { name: 'sandbox-start-podman-vs-runc', unit: 'ms', samples: s.podman, baseline: s.runc, extra: { baselineIs: 'runc run on the same rootfs, same policy' } },
        { name: 'sandbox-start-podman-nonet-vs-runc', unit: 'ms', samples: s.podmanNoNet, baseline: s.runc, extra: { baselineIs: 'runc run on the same rootfs, same policy' } }
      ]
    } finally {
      if (created) {
        await exec('podman', ['umount', ctr]).catch(() => {})
        await exec('podman', ['rm', '-f', ctr]).catch(() => {})
      }
      await rm(dir, { recursive: true, force: true })
    }
  }
}

export default benchmark
