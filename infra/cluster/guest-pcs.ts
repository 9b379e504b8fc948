/**
 * Guest PCs: QEMU virtual machines booting Debian's stock cloud kernel (which has soft-dirty tracking, like the
 * kernels of real classroom PCs), seeing this machine's files read-only through virtiofs (so they run the same
 * build, runc and CRIU), with their own disk for the remnant store. Each has two network cards: one on the
 * classroom LAN (a tap device bridged in the guest's namespace), and QEMU's user networking as its way in to the
 * cluster's services: Temporal and migration-api are forwarded from 10.0.2.100 to the cluster's unix sockets, and
 * `restrict=on` lets nothing else through (the same reach a simulated PC gets from its relays).
 */
import execa from 'execa';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ClusterConfig, REPO_ROOT } from './config';
import { GUEST_TAP, PlannedNode } from './plan';

/** How long a guest PC may take to pick up and answer a call, and between heartbeats (TCG: ~30x slower). */
export const GUEST_NODE_TIMEOUTS = { answerSeconds: 300, heartbeatSeconds: 120 };

/** Where a guest PC reaches the cluster's services through its user-networking card. */
export const GUEST_SERVICE_HOST = '10.0.2.100';

/** What `infra/guest/build.sh` prepared: the kernel package unpacked, the initramfs, and the accelerator to use. */
export interface GuestKernel {
  dir: string;
  version: string;
  /** `kvm` if a probe booted a guest with it on this machine, else `tcg` (emulation: correct, ~30x slower). */
  accel: 'kvm' | 'tcg';
}

/** Provisions what guests boot from (idempotent: the second time costs nothing) and says what to boot. */
export async function guestKernel(): Promise<GuestKernel> {
  const { stdout } = await execa('bash', [path.join(REPO_ROOT, 'infra', 'guest', 'build.sh')], { stderr: 'inherit' });
  const dir = stdout.trim().split('\n').pop()!;
  const version = path.basename(dir).replace(/^kernel-/, '');
  const accelFile = path.join(dir, 'accel');
  const accel = existsSync(accelFile) ? readFileSync(accelFile, 'utf8').trim() : 'tcg';
  return { dir, version, accel: accel === 'kvm' ? 'kvm' : 'tcg' };
}

export interface GuestFiles {
  disk: string;
  envFile: string;
  vfsSocket: string;
}

/** Stable MAC addresses for a guest's two cards (the guest finds its cards by them). */
export function guestMacs(node: PlannedNode): { lan: string; service: string } {
  const n = Number(node.address.split('.').pop());
  const hex = n.toString(16).padStart(2, '0');
  return { lan: `52:54:00:7a:00:${hex}`, service: `52:54:00:7a:01:${hex}` };
}

/**
 * The guest's disk (created and formatted once: a sparse file of ZANSHIN_VM_DISK_GIB) and its settings file (root
 * only: it names the node token's file; the kernel command line, which every host user can read, only names it).
 */
export async function prepareGuestPc(
  config: ClusterConfig,
  node: PlannedNode,
  settings: Record<string, string>,
): Promise<GuestFiles> {
  mkdirSync(node.dataDir, { recursive: true });
  const files: GuestFiles = {
    disk: path.join(node.dataDir, 'disk.img'),
    envFile: path.join(node.dataDir, 'guest.env'),
    vfsSocket: path.join(node.dataDir, 'virtiofs.sock'),
  };
  if (!existsSync(files.disk)) {
    await execa('truncate', ['-s', `${config.vmDiskGiB}G`, `${files.disk}.tmp`]);
    await execa('mkfs.ext4', ['-q', '-F', '-L', node.id, `${files.disk}.tmp`]);
    await execa('mv', [`${files.disk}.tmp`, files.disk]);
  }
  const macs = guestMacs(node);
  const env: Record<string, string> = {
    ...settings,
    ZANSHIN_GUEST_LAN_MAC: macs.lan,
    ZANSHIN_GUEST_SERVICE_MAC: macs.service,
  };
  writeFileSync(
    files.envFile,
    Object.entries(env)
      .map(([k, v]) => `${k}=${shellQuote(v)}\n`)
      .join(''),
    { mode: 0o600 },
  );
  chmodSync(files.envFile, 0o600);
  return files;
}

/** A value in single quotes for `sh`, each quote in it closed, escaped and reopened. */
const shellQuote = (v: string): string => "'" + v.split("'").join("'\\''") + "'";

/** virtiofsd sharing this machine's root read-only with one guest (it exits when its guest does). */
export function virtiofsdArgv(files: GuestFiles): string[] {
  return [
    '/usr/lib/qemu/virtiofsd',
    `--socket-path=${files.vfsSocket}`,
    '-o',
    'source=/',
    '-o',
    'cache=auto',
    '-o',
    'sandbox=chroot',
  ];
}

/**
 * Instructions QEMU's emulated `max` CPU offers that an x86 host may lack (QEMU's names, which /proc/cpuinfo uses
 * too). A guest must not have one its host lacks: a process dumped in the guest could use it and die on the host,
 * and the CPU rule would then refuse guest -> host moves as well (seen on this machine kind's AMD EPYC: 3dnow,
 * 3dnowext, abm, fsgsbase, pku, sse4a).
 */
const TCG_MAX_EXTRAS = [
  '3dnow',
  '3dnowext',
  '3dnowprefetch',
  'abm',
  'sse4a',
  'misalignsse',
  'fsgsbase',
  'pku',
  'xop',
  // AMD's MMX extensions: seen on this machine kind's Intel Xeon (2026-12-05: guest -> host refused for it).
  'mmxext',
];

/**
 * Instructions software takes for granted once the CPU offers these others, so they go too: zstd's BMI2 code path
 * (compiled for "lzcnt,bmi,bmi2") uses LZCNT whenever BMI1/BMI2 are there, and TCG without `abm` runs LZCNT as BSR,
 * which gives other numbers. Seen here: every zstd stream between two guests came out corrupt. And no real CPU has
 * AVX2 without BMI1/BMI2, so libraries' AVX2 code uses them unasked: on a host without `abm` (2026-12-07) the guests
 * offered AVX2 alone and sid's glibc, picking its AVX2 string functions, made CRIU die of SIGILL (ILL_ILLOPN) parsing
 * a restored container's mounts (seen with strace; CRIU's log just stopped).
 */
const IMPLIED_BY: Record<string, string[]> = { abm: ['bmi1', 'bmi2', 'avx2'] };

/** The guest's CPU: the host's own under KVM; under TCG the emulated `max` without what the host lacks. */
export function guestCpuModel(accel: GuestKernel['accel'], hostCpuFlags: string[]): string {
  if (accel === 'kvm') return 'host';
  const host = new Set(hostCpuFlags);
  const lacking = TCG_MAX_EXTRAS.filter((f) => !host.has(f));
  const off = [...lacking, ...lacking.flatMap((f) => IMPLIED_BY[f] ?? [])];
  return ['max', ...off.map((f) => `-${f}`)].join(',');
}

export function hostCpuFlags(): string[] {
  const m = /^flags\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
  return m ? m[1]!.trim().split(/\s+/) : [];
}

/** QEMU for one guest PC (run inside the guest's namespace, where its tap device is). */
export function qemuArgv(
  config: ClusterConfig,
  node: PlannedNode,
  kernel: GuestKernel,
  files: GuestFiles,
  sockets: { temporal: string; api: string },
  hostFlags: string[] = [],
): string[] {
  const macs = guestMacs(node);
  const forward = (port: number, socket: string) =>
    `guestfwd=tcp:${GUEST_SERVICE_HOST}:${port}-cmd:socat - UNIX-CONNECT:${socket}`;
  const guest = path.join(REPO_ROOT, 'infra', 'guest');
  return [
    'qemu-system-x86_64',
    '-machine',
    `q35,accel=${kernel.accel}`,
    '-cpu',
    guestCpuModel(kernel.accel, hostFlags),
    '-smp',
    '2',
    '-m',
    String(config.vmMemoryMiB),
    '-nographic',
    '-no-reboot',
    '-kernel',
    path.join(kernel.dir, 'root', 'boot', `vmlinuz-${kernel.version}`),
    '-initrd',
    path.join(kernel.dir, 'initrd.cpio.gz'),
    '-append',
    `console=ttyS0 quiet panic=-1 zanshin.init=${guest}/init.sh zanshin.run=${guest}/pc.sh zanshin.env=${files.envFile}`,
    '-object',
    `memory-backend-memfd,id=mem,size=${config.vmMemoryMiB}M,share=on`,
    '-numa',
    'node,memdev=mem',
    '-chardev',
    `socket,id=vfs,path=${files.vfsSocket}`,
    '-device',
    'vhost-user-fs-pci,chardev=vfs,tag=hostroot',
    '-drive',
    `file=${files.disk},format=raw,if=virtio`,
    '-netdev',
    `tap,id=lan,ifname=${GUEST_TAP},script=no,downscript=no`,
    '-device',
    `virtio-net-pci,netdev=lan,mac=${macs.lan}`,
    '-netdev',
    [
      'user,id=svc,restrict=on',
      forward(config.temporalPort, sockets.temporal),
      forward(config.apiPort, sockets.api),
    ].join(','),
    '-device',
    `virtio-net-pci,netdev=svc,mac=${macs.service}`,
  ];
}
