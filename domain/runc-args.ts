/**
 * The exact runc command lines for checkpoint and restore, per dirty-tracking strategy. Pure, so the kernel
 * path is unit tested even on hosts whose kernel lacks soft-dirty tracking (where it cannot run).
 *
 * - content: one full dump; what the target lacks is found by hashing pages (works on every kernel).
 * - kernel: pre-dumps while the container runs (runc asks CRIU to track memory), then the final dump with
 *   --parent-path, which makes runc pass CRIU's parent image *and* track-mem, so unchanged pages are skipped.
 *   A PC that tracks also gives every dump track-mem and every restore the script that restarts tracking, through
 *   a CRIU config file named by the container's org.criu.config annotation (criuNodeConfig).
 */

export type DirtyStrategy = 'content' | 'kernel';

export interface RuncGlobal {
  /** runc state root of this node. */
  root: string;
  /** CRIU binary runc must use. */
  criu: string;
  /** runc's own log (JSON lines). */
  log: string;
}

const global = (g: RuncGlobal): string[] => [
  '--root',
  g.root,
  '--criu',
  g.criu,
  '--log',
  g.log,
  '--log-format',
  'json',
];

export interface CheckpointOptions {
  containerId: string;
  imagePath: string;
  workPath: string;
  leaveRunning: boolean;
  /** Kernel strategy only: a pre-dump image directory, relative to imagePath (CRIU resolves it from there). */
  parentPath?: string;
}

export function preDumpArgs(
  g: RuncGlobal,
  o: { containerId: string; imagePath: string; workPath: string; parentPath?: string },
): string[] {
  return [
    ...global(g),
    'checkpoint',
    '--pre-dump',
    '--image-path',
    o.imagePath,
    '--work-path',
    o.workPath,
    ...(o.parentPath ? ['--parent-path', o.parentPath] : []),
    o.containerId,
  ];
}

/**
 * Established TCP connections are dumped and restored (CRIU's TCP repair): the container's address moves with it
 * and the node holds its traffic meanwhile, so a connected client sees a pause, not a reset.
 */
const TCP = '--tcp-established';

export function checkpointArgs(g: RuncGlobal, strategy: DirtyStrategy, o: CheckpointOptions): string[] {
  const args = [...global(g), 'checkpoint', TCP, '--image-path', o.imagePath, '--work-path', o.workPath];
  // Kernel strategy without a parent: a full dump, tracked (track-mem comes from the PC's CRIU config).
  if (strategy === 'kernel' && o.parentPath) args.push('--parent-path', o.parentPath);
  if (o.leaveRunning) args.push('--leave-running');
  return [...args, o.containerId];
}

/**
 * With `lazyPages`, the process resumes before its memory is back: CRIU's lazy-pages daemon (started first, on the
 * same work directory) hands it each page on first touch and copies the rest in the background.
 */
export function restoreArgs(
  g: RuncGlobal,
  o: { containerId: string; imagePath: string; workPath: string; bundle: string; lazyPages?: boolean },
): string[] {
  return [
    ...global(g),
    'restore',
    '--detach',
    TCP,
    ...(o.lazyPages ? ['--lazy-pages'] : []),
    '--image-path',
    o.imagePath,
    '--work-path',
    o.workPath,
    '--bundle',
    o.bundle,
    o.containerId,
  ];
}

/**
 * Below this much memory a lazy restore loses: starting the lazy-pages daemon and waiting for its socket costs
 * more than faulting the pages in (64 MiB: runc restore 1.03 s lazy vs 0.68 s plain; 1 GiB: 0.5 s vs 5-7 s).
 */
export const LAZY_RESTORE_MIN_BYTES = 128 * 1024 * 1024;

/** Whether to restore lazily: when enabled and the image holds enough memory pages for it to pay. */
export function restoresLazily(enabled: boolean, pagesBytes: number, minBytes = LAZY_RESTORE_MIN_BYTES): boolean {
  return enabled && pagesBytes >= minBytes;
}

/** CRIU's lazy-pages daemon for a local image: serves the pages of `imagePath` to a restore using `workPath`. */
export function lazyPagesArgs(o: { imagePath: string; workPath: string; logFile: string }): string[] {
  return ['lazy-pages', '--images-dir', o.imagePath, '--work-dir', o.workPath, '--log-file', o.logFile, '-v2'];
}

/**
 * The container a command line brings to life under this runc root (`runc restore` or `runc run`, also behind a
 * wrapper such as zanshin-nothp), or null. A worker killed while its runc restored a container leaves that runc
 * running: the next worker recognises it by its command line.
 */
export function containerBroughtUp(argv: string[], root: string): string | null {
  const runc = argv.findIndex((a) => a === 'runc' || a.endsWith('/runc'));
  if (runc < 0) return null;
  const rest = argv.slice(runc + 1);
  const at = rest.indexOf('--root');
  if (at < 0 || rest[at + 1] !== root) return null;
  if (!rest.some((a) => a === 'restore' || a === 'run')) return null;
  const id = rest.at(-1);
  return id && !id.startsWith('-') && id !== 'restore' && id !== 'run' ? id : null;
}

export function runArgs(g: RuncGlobal, o: { containerId: string; bundle: string }): string[] {
  return [...global(g), 'run', '--detach', '--bundle', o.bundle, o.containerId];
}

/**
 * The CRIU config a PC gives its containers (annotation org.criu.config; it overrides what runc asks).
 *
 * - With dirty tracking (`actionScript`): every dump tracks memory (so a later one can be differential to it), and
 *   every restore runs the action script, which restarts tracking of the restored tasks before they resume
 *   (without it the next dump would hold every page).
 * - Always: CRIU leaves cgroups to runc (`manage-cgroups=ignore`). runc puts CRIU itself in the container's cgroups
 *   of this PC (`/zanshin/<pc>/<id>`) and applies the limits; the restored tasks, its children, stay there. Left to
 *   CRIU, they went back to the paths they had where they were dumped: runc 1.1 names the new root to CRIU on
 *   cgroup v1 only, so on a v2 guest the tasks landed in the source's path (runc froze this PC's empty cgroup at the
 *   next dump: "Unseizable non-zombie") and a guest's image restored on a v1 host asked for a v2 path that host lacks.
 */
export function criuNodeConfig(o: { actionScript?: string } = {}): string {
  return (o.actionScript ? `track-mem\naction-script ${o.actionScript}\n` : '') + 'manage-cgroups=ignore\n';
}

/**
 * The action script: on pre-resume, writes 4 to clear_refs of every process of the restored tree (it resets their
 * soft-dirty bits: the restore itself wrote every page). Processes are found from the root through each thread's
 * children, to any depth.
 */
export const CLEAR_SOFT_DIRTY_SCRIPT = `#!/bin/sh
# Called by CRIU with CRTOOLS_SCRIPT_ACTION; restarts dirty-page tracking of the restored tasks before they run.
[ "$CRTOOLS_SCRIPT_ACTION" = "pre-resume" ] || exit 0
clear_tree() {
  [ -w /proc/"$1"/clear_refs ] && echo 4 > /proc/"$1"/clear_refs
  for child in $(cat /proc/"$1"/task/*/children 2>/dev/null); do clear_tree "$child"; done
}
clear_tree "$CRTOOLS_INIT_PID"
exit 0
`;

/**
 * A generation whose chain (itself and the parents its image needs) is longer than the threshold is merged into a
 * self-contained one: every restore and dump reads the whole chain, and every link is one more file that must stay.
 */
export function needsMerge(chainLength: number, threshold: number): boolean {
  return chainLength > threshold;
}

/** Chains longer than this are merged (setting ZANSHIN_CHAIN_MERGE_THRESHOLD). */
export const DEFAULT_CHAIN_MERGE_THRESHOLD = 3;

/** Picks the strategy a node can run: the kernel one only where CRIU confirms dirty-page tracking. */
export function chooseStrategy(memDirtyTrack: boolean, preferred: DirtyStrategy | 'auto' = 'auto'): DirtyStrategy {
  if (preferred === 'content') return 'content';
  if (preferred === 'kernel' && !memDirtyTrack) {
    throw new Error(
      'the kernel dirty-tracking strategy was requested but this kernel lacks soft-dirty tracking (criu check --feature mem_dirty_track failed)',
    );
  }
  return memDirtyTrack ? 'kernel' : 'content';
}
