/**
 * CRIU's inventory.img: a 32-bit magic, a 32-bit length, then an InventoryEntry protobuf message. A differential
 * dump of a restored process compares each task's start time with the parent inventory's `dump_uptime` (field 8,
 * microseconds since boot) and dumps every page of a task started later ("pid reuse"). After a restore with tracking
 * restarted, the restored memory equals the parent image at that moment, so moving `dump_uptime` to it is true.
 * Pure: bytes in, bytes out.
 */
import { fields, readVarint, varint } from './protobuf-wire';

const DUMP_UPTIME_FIELD = 8;

/** The inventory's `dump_uptime` (µs), or null when it has none (a dump made without track-mem). */
export function inventoryDumpUptime(image: Buffer): bigint | null {
  const msg = message(image);
  for (const f of fields(msg))
    if (f.number === DUMP_UPTIME_FIELD && f.wire === 0) return readVarint(msg, f.valueAt).value;
  return null;
}

/** The same inventory with `dump_uptime` set to `uptimeUs` (added when absent). */
export function withDumpUptime(image: Buffer, uptimeUs: bigint): Buffer {
  const msg = message(image);
  const parts: Buffer[] = [];
  for (const f of fields(msg))
    if (!(f.number === DUMP_UPTIME_FIELD && f.wire === 0)) parts.push(msg.subarray(f.start, f.end));
  parts.push(varint(BigInt(DUMP_UPTIME_FIELD << 3)), varint(uptimeUs));
  const body = Buffer.concat(parts);
  const head = Buffer.alloc(8);
  image.copy(head, 0, 0, 4); // the magic
  head.writeUInt32LE(body.length, 4);
  return Buffer.concat([head, body]);
}

function message(image: Buffer): Buffer {
  if (image.length < 8) throw new Error('inventory.img is truncated');
  const len = image.readUInt32LE(4);
  if (8 + len > image.length) throw new Error(`inventory.img says ${len} bytes of entry but holds ${image.length - 8}`);
  return image.subarray(8, 8 + len);
}
