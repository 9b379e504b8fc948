// What a kernel's build configuration says about dirty-page tracking (CONFIG_MEM_SOFT_DIRTY), from the text of
// /proc/config.gz or /boot/config-<release>.

/** true: soft-dirty built in; false: the config says it is not; null: the config does not mention it. */
export function softDirtyInConfig(configText: string): boolean | null {
  if (/^CONFIG_MEM_SOFT_DIRTY=y$/m.test(configText)) return true;
  if (/^# CONFIG_MEM_SOFT_DIRTY is not set$/m.test(configText)) return false;
  return null;
}

/** The lines of a CRIU log worth showing when its dirty-tracking check failed (the rest is kerndat noise). */
export function trackingCheckLines(criuLog: string, max = 20): string[] {
  const wanted = /dirty|clear_refs|pagemap|kdat|soft|track|Error|error|warn/i;
  return criuLog
    .split('\n')
    .filter((l) => wanted.test(l))
    .slice(0, max);
}
