/**
 * CRIU's stats-dump, written next to a finished dump (in its work directory): how long the tasks were being frozen
 * and were frozen, as CRIU itself measured it. A pre-copy round's real cost to the program is this freeze, not the
 * wall time of `runc checkpoint` (process starts, page writing after the unfreeze). Layout: a service magic and the
 * stats magic (two 32-bit words), a 32-bit length, then StatsEntry { DumpStatsEntry dump = 1 } with times in µs.
 * Pure: bytes in, figures out.
 */
import { fields, readVarint, varintFields } from './protobuf-wire';

const STATS_MAGIC = 0x57093306;
const DUMP_FIELD = 1;

export interface DumpStats {
  /** Time spent freezing the tasks (they stop one by one meanwhile). */
  freezingUs: number;
  /** Time the tasks stayed frozen (until the unfreeze of a --leave-running dump, or the end of a final dump). */
  frozenUs: number;
  memdumpUs: number;
  memwriteUs: number;
  pagesScanned: number;
  pagesWritten: number;
}

/** The figures of a stats-dump file; throws naming what is wrong with it. */
export function parseDumpStats(image: Buffer): DumpStats {
  const at = image.length >= 4 && image.readUInt32LE(0) === STATS_MAGIC ? 4 : 8;
  if (image.length < at + 4 || image.readUInt32LE(at - 4) !== STATS_MAGIC)
    throw new Error('stats-dump: not a CRIU stats image (magic)');
  const len = image.readUInt32LE(at);
  if (at + 4 + len > image.length) throw new Error(`stats-dump says ${len} bytes of entry but is shorter`);
  const entry = image.subarray(at + 4, at + 4 + len);
  for (const f of fields(entry)) {
    if (f.number !== DUMP_FIELD || f.wire !== 2) continue;
    const v = varintFields(entry.subarray(readVarint(entry, f.valueAt).end, f.end));
    const n = (k: number): number => Number(v.get(k) ?? 0n);
    return {
      freezingUs: n(1),
      frozenUs: n(2),
      memdumpUs: n(3),
      memwriteUs: n(4),
      pagesScanned: n(5),
      pagesWritten: n(7),
    };
  }
  throw new Error('stats-dump holds no dump statistics');
}

/** How long a dump stopped the program, in ms: freezing plus frozen (null when CRIU wrote no figures). */
export function frozenMsOf(stats: DumpStats | null): number | null {
  return stats ? Math.round((stats.freezingUs + stats.frozenUs) / 1000) : null;
}
