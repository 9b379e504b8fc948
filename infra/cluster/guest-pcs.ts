/**
 * Guest PCs: QEMU virtual machines booting Debian's stock cloud kernel (which has soft-dirty tracking, like the
 * kernels of real classroom PCs), seeing this machine's files read-only through virtiofs (so they run the same
 * build, runc and CRIU), with their own disk for the remnant store. Each has two network cards: one on the
 * classroom LAN (a tap device bridged in the guest's namespace), and QEMU's user networking as its way in to the
 * cluster's services: Temporal and migration-api are forwarded from 10.0.2.100 to the cluster's unix sockets, and
 * `restrict=on` lets nothing else through (the same reach a simulated PC gets from its relays).
 */
import execa from 'execa';
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

/** A guest's files: its disk (made and formatted once: a sparse file of ZANSHIN_VM_DISK_GIB) and its sockets' paths. */
export async function ensureGuestDisk(config: ClusterConfig, node: PlannedNode): Promise<GuestFiles> {
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
  return files;
}

/**
 * A shared-boot guest's disk and its settings file (root only: it names the node token's file; the kernel command
 * line, which every host user can read, only names it).
 */
export async function prepareGuestPc(
  config: ClusterConfig,
  node: PlannedNode,
  settings: Record<string, string>,
): Promise<GuestFiles> {
  const files = await ensureGuestDisk(config, node);
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

/** What an installed guest PC boots (a Debian 12 image) and is installed from (the PC bundle). Built once, cached. */
export async function installedGuestMedia(): Promise<{ imageRoot: string; bundle: string }> {
  const last = async (...script: string[]) =>
    (await execa('bash', [path.join(REPO_ROOT, ...script)], { stderr: 'inherit' })).stdout.trim().split('\n').pop()!;
  return {
    imageRoot: await last('infra', 'guest', 'build-debian-pc.sh'),
    bundle: await last('infra', 'pc', 'bundle.sh'),
  };
}

export interface InstallSettings {
  bundle: string;
  caFile: string;
  joinToken: string;
  temporalAddress: string;
  apiUrl: string;
  /** The containers' address pool (install.sh --pool). */
  pool: string;
  /** Extra lines of /etc/zanshin/node.env (install.sh --set). */
  settings: Record<string, string>;
}

/**
 * The "USB stick" of an installed guest PC (a directory shared with it as `setup`): the bundle, install.sh, the
 * cluster CA, the join token, and admin.sh, what an administrator types at the PC: its network as the campus would
 * have it, its data disk on /var/lib/zanshin, then install.sh exactly as the README gives it.
 */
export function prepareInstalledGuest(node: PlannedNode, o: InstallSettings): string {
  const dir = path.join(node.dataDir, 'setup');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const bundle = path.basename(o.bundle);
  for (const [from, to] of [
    [o.bundle, bundle],
    [`${o.bundle}.sha256`, `${bundle}.sha256`],
    [path.join(REPO_ROOT, 'infra', 'pc', 'install.sh'), 'install.sh'],
    [o.caFile, 'ca.crt'],
  ] as const) {
    try {
      linkSync(from, path.join(dir, to)); // the bundle is 100 MB: a link where the file system allows
    } catch {
      copyFileSync(from, path.join(dir, to));
    }
  }
  writeFileSync(path.join(dir, 'join-token'), o.joinToken, { mode: 0o600 });
  // A student's account, as a campus PC has them (letters and digits: typed on the PC's keyboard by QEMU's sendkey).
  writeFileSync(path.join(dir, 'student-password'), randomBytes(12).toString('hex'), { mode: 0o600 });
  const macs = guestMacs(node);
  const sets = Object.entries(o.settings).map(([k, v]) => `--set ${shellQuote(`${k}=${v}`)}`);
  const script = [
    '#!/bin/sh',
    '# The administrator at this PC (test rig): network, data disk, then the documented install.',
    'set -u',
    'up() { cut -d" " -f1 /proc/uptime; }',
    'echo "zanshin-rig: systemd up, admin session at $(up) s"',
    // udev renames the cards while this runs: wait until the one with the MAC is there under its final name.
    'card() { for _ in $(seq 120); do for d in /sys/class/net/*; do',
    '  [ "$(cat "$d/address" 2>/dev/null)" = "$1" ] && ip link set "${d##*/}" up 2>/dev/null && { echo "${d##*/}"; return; }',
    'done; sleep 0.5; done; echo "zanshin-rig: no card $1" >&2; exit 1; }',
    `lan=$(card ${macs.lan}); svc=$(card ${macs.service})`,
    `ip addr add ${node.address}/24 dev "$lan" && ip link set "$lan" up`,
    'ip addr add 10.0.2.15/24 dev "$svc" && ip link set "$svc" up',
    'mkdir -p /var/lib/zanshin && mount -t ext4 /dev/vda /var/lib/zanshin',
    'id student >/dev/null 2>&1 || useradd -m -s /bin/sh student',
    'echo "student:$(cat /media/setup/student-password)" | chpasswd',
    'echo "zanshin-rig: installing at $(up) s"',
    [
      'bash /media/setup/install.sh',
      `--bundle /media/setup/${bundle}`,
      `--node-id ${node.id} --address ${node.address}`,
      `--temporal ${o.temporalAddress} --api ${o.apiUrl} --pool ${o.pool}`,
      '--ca /media/setup/ca.crt --join-token-file /media/setup/join-token',
      ...sets,
    ].join(' \\\n  '),
    'code=$?',
    'echo "zanshin-rig: install.sh exit $code at $(up) s"',
    'systemctl is-active zanshin-node zanshin-fence zanshin-evacuate | tr "\\n" " "; echo',
    '',
  ].join('\n');
  writeFileSync(path.join(dir, 'admin.sh'), script, { mode: 0o700 });
  return dir;
}

/** A value in single quotes for `sh`, each quote in it closed, escaped and reopened. */
const shellQuote = (v: string): string => "'" + v.split("'").join("'\\''") + "'";

/** virtiofsd sharing a directory (the host's root by default) with one guest (it exits when its guest does). */
export function virtiofsdArgv(socket: string, source = '/'): string[] {
  return [
    '/usr/lib/qemu/virtiofsd',
    `--socket-path=${socket}`,
    '-o',
    `source=${source}`,
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

/**
 * How a guest PC boots. `shared`: the host's files (read-only, RAM overlay) and infra/guest/pc.sh running this
 * checkout's build, reaching the cluster's services through unix-socket relays. `installed`: a Debian 12 image with
 * systemd (its own files), installed by infra/pc/install.sh from the "USB stick" share; it reaches Temporal and
 * migration-api over TCP and TLS (QEMU's user network standing in for the campus router).
 */
export type GuestBoot =
  | { kind: 'shared'; sockets: { temporal: string; api: string } }
  | {
      kind: 'installed';
      setupSocket: string;
      ports: { temporal: number; api: number };
      /** A process in this machine's own network namespace, living as long as the guest (its virtiofsd). */
      hostNetnsPid: number;
    };

/** QEMU for one guest PC (run inside the guest's namespace, where its tap device is). */
export function qemuArgv(
  config: ClusterConfig,
  node: PlannedNode,
  kernel: GuestKernel,
  files: GuestFiles,
  boot: GuestBoot,
  hostFlags: string[] = [],
): string[] {
  const macs = guestMacs(node);
  const guest = path.join(REPO_ROOT, 'infra', 'guest');
  const forwards =
    boot.kind === 'shared'
      ? [
          [config.temporalPort, `socat - UNIX-CONNECT:${boot.sockets.temporal}`],
          [config.apiPort, `socat - UNIX-CONNECT:${boot.sockets.api}`],
        ]
      : // QEMU runs in the guest's namespace: the forwarder dials the services from this machine's own.
        [boot.ports.temporal, boot.ports.api].map((port) => [
          port,
          `nsenter --net=/proc/${boot.hostNetnsPid}/ns/net socat - TCP:127.0.0.1:${port}`,
        ]);
  const append =
    boot.kind === 'shared'
      ? `console=ttyS0 quiet panic=-1 zanshin.init=${guest}/init.sh zanshin.run=${guest}/pc.sh zanshin.env=${files.envFile}`
      : 'console=ttyS0 quiet panic=-1 zanshin.init=/lib/systemd/systemd systemd.show_status=false';
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
    append,
    '-object',
    `memory-backend-memfd,id=mem,size=${config.vmMemoryMiB}M,share=on`,
    '-numa',
    'node,memdev=mem',
    '-chardev',
    `socket,id=vfs,path=${files.vfsSocket}`,
    '-device',
    'vhost-user-fs-pci,chardev=vfs,tag=hostroot',
    ...(boot.kind === 'installed'
      ? [
          // The power button (ACPI): `system_powerdown` on this socket shuts the PC down as a user would.
          '-monitor',
          `unix:${path.join(node.dataDir, 'monitor.sock')},server,nowait`,
          '-chardev',
          `socket,id=setup,path=${boot.setupSocket}`,
          '-device',
          'vhost-user-fs-pci,chardev=setup,tag=setup',
        ]
      : []),
    '-drive',
    `file=${files.disk},format=raw,if=virtio`,
    '-netdev',
    `tap,id=lan,ifname=${GUEST_TAP},script=no,downscript=no`,
    '-device',
    `virtio-net-pci,netdev=lan,mac=${macs.lan}`,
    '-netdev',
    [
      'user,id=svc,restrict=on',
      ...forwards.map(([port, cmd]) => `guestfwd=tcp:${GUEST_SERVICE_HOST}:${port}-cmd:${cmd}`),
    ].join(','),
    '-device',
    `virtio-net-pci,netdev=svc,mac=${macs.service}`,
  ];
}
