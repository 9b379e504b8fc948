import { inventoryDumpUptime, withDumpUptime } from '../../domain/criu-inventory';

// inventory.img of a CRIU 4.2.1 dump made on this machine without track-mem (no dump_uptime field).
const REAL = Buffer.from(
  '163131584e000000080210011a18080110011801200128013002380340044806500758086005200128013000580062006a2437636131316464632d383737342d346530362d623962392d346335653565303733336439',
  'hex',
);

describe("CRIU inventory's dump_uptime", () => {
  it('reads none from a dump made without memory tracking', () => {
    expect(inventoryDumpUptime(REAL)).toBeNull();
  });

  it('sets it, keeping the magic and every other field, and replaces it when set again', () => {
    const once = withDumpUptime(REAL, 123_456_789_012n);
    expect(once.subarray(0, 4).equals(REAL.subarray(0, 4))).toBe(true);
    expect(inventoryDumpUptime(once)).toBe(123_456_789_012n);
    // The other fields are the same bytes, in the same order, before the new one.
    expect(once.subarray(8, 8 + REAL.readUInt32LE(4)).equals(REAL.subarray(8))).toBe(true);
    const twice = withDumpUptime(once, 5n);
    expect(inventoryDumpUptime(twice)).toBe(5n);
    expect(twice.length).toBeLessThan(once.length); // replaced, not added again
  });

  it('refuses a truncated image', () => {
    expect(() => inventoryDumpUptime(REAL.subarray(0, 20))).toThrow(/says \d+ bytes/);
    expect(() => withDumpUptime(Buffer.alloc(3), 1n)).toThrow(/truncated/);
  });
});
