/**
 * The exact runc command lines for checkpoint and restore, per dirty-tracking strategy. Pure, so the kernel
 * path is unit tested even on hosts whose kernel lacks soft-dirty tracking (where it cannot run).
 *
 * - content: one full dump; what the target lacks is found by hashing pages (works on every kernel).
 * - kernel: a pre-dump while the container runs (runc asks CRIU to track memory), then the final dump with
 *   --parent-path, which makes runc pass CRIU's parent image *and* track-mem, so unchanged pages are skipped.
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

export function preDumpArgs(g: RuncGlobal, o: { containerId: string; imagePath: string; workPath: string }): string[] {
  return [
    ...global(g),
    'checkpoint',
    '--pre-dump',
    '--image-path',
    o.imagePath,
    '--work-path',
    o.workPath,
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
  if (strategy === 'kernel') {
    if (!o.parentPath) throw new Error('the kernel strategy needs the pre-dump as parent path');
    args.push('--parent-path', o.parentPath);
  }
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

export function runArgs(g: RuncGlobal, o: { containerId: string; bundle: string }): string[] {
  return [...global(g), 'run', '--detach', '--bundle', o.bundle, o.containerId];
}

/**
 * Kernel strategy: CRIU config that runc hands to CRIU on restore (annotation org.criu.config) so that our action
 * script clears the restored tasks' soft-dirty bits at pre-resume: the next dump is incremental again, with no
 * patched CRIU or runc.
 */
export function criuRestoreConfig(actionScript: string): string {
  return `action-script ${actionScript}\n`;
}

/** The action script: on pre-resume, write 4 to clear_refs of every task of the restored tree (resets soft-dirty). */
export const CLEAR_SOFT_DIRTY_SCRIPT = `#!/bin/sh
# Called by CRIU with CRTOOLS_SCRIPT_ACTION; restarts dirty-page tracking of the restored tasks before they run.
[ "$CRTOOLS_SCRIPT_ACTION" = "pre-resume" ] || exit 0
for task in /proc/"$CRTOOLS_INIT_PID"/task/* $(cat /proc/"$CRTOOLS_INIT_PID"/task/*/children 2>/dev/null); do
  pid=\${task##*/}
  [ -w /proc/"$pid"/clear_refs ] && echo 4 > /proc/"$pid"/clear_refs
done
exit 0
`;

/** When a kernel-strategy chain of parent images grows past the threshold, the next dump is a full one. */
export function needsMerge(chainLength: number, threshold: number): boolean {
  return chainLength >= threshold;
}

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
