// In a guest PC: moves a parent image's dump_uptime to the moment tracking was restarted after its restore, so
// CRIU's next dump of the restored task is differential (see domain/criu-inventory.ts).
// Usage: node dist/infra/guest/set-dump-uptime.js <image dir> <uptime in µs>
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { inventoryDumpUptime, withDumpUptime } from '../../domain/criu-inventory';

const [dir, uptime] = process.argv.slice(2);
if (!dir || !uptime || !/^\d+$/.test(uptime)) {
  console.error('usage: set-dump-uptime <image dir> <uptime in microseconds>');
  process.exit(2);
}
const file = path.join(dir, 'inventory.img');
const image = readFileSync(file);
const before = inventoryDumpUptime(image);
if (before === null) {
  console.error(`${file} has no dump_uptime: the dump was made without track-mem`);
  process.exit(1);
}
writeFileSync(`${file}.tmp`, withDumpUptime(image, BigInt(uptime)));
renameSync(`${file}.tmp`, file);
console.log(`${file}: dump_uptime ${before} -> ${uptime}`);
