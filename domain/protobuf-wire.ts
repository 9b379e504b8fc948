/**
 * The few pieces of protobuf's wire format that reading and rewriting CRIU's images needs (varints and field
 * boundaries), so that no generated code or protobuf runtime is loaded for two small messages. Pure.
 */

export function readVarint(buf: Buffer, at: number): { value: bigint; end: number } {
  let value = 0n;
  let shift = 0n;
  for (let i = at; i < buf.length; i++) {
    value |= BigInt(buf[i]! & 0x7f) << shift;
    if ((buf[i]! & 0x80) === 0) return { value, end: i + 1 };
    shift += 7n;
    if (shift > 63n) break;
  }
  throw new Error('a protobuf varint runs past its message');
}

export function varint(value: bigint): Buffer {
  const out: number[] = [];
  do {
    let b = Number(value & 0x7fn);
    value >>= 7n;
    if (value > 0n) b |= 0x80;
    out.push(b);
  } while (value > 0n);
  return Buffer.from(out);
}

/** A varint field: its key and value. */
export function varintField(field: number, value: bigint | number): Buffer {
  return Buffer.concat([varint(BigInt(field << 3)), varint(BigInt(value))]);
}

export interface WireField {
  number: number;
  wire: number;
  /** Where the field's key starts, its value starts, and the field ends. */
  start: number;
  valueAt: number;
  end: number;
}

/** The fields of one message, in order; only wire types 0, 1, 2 and 5 (all CRIU's images use). */
export function* fields(msg: Buffer): Generator<WireField> {
  let at = 0;
  while (at < msg.length) {
    const start = at;
    const key = readVarint(msg, at);
    const number = Number(key.value >> 3n);
    const wire = Number(key.value & 7n);
    const valueAt = key.end;
    if (wire === 0) at = readVarint(msg, valueAt).end;
    else if (wire === 1) at = valueAt + 8;
    else if (wire === 5) at = valueAt + 4;
    else if (wire === 2) {
      const len = readVarint(msg, valueAt);
      at = len.end + Number(len.value);
    } else throw new Error(`unsupported protobuf wire type ${wire}`);
    if (at > msg.length) throw new Error('a protobuf field runs past its message');
    yield { number, wire, start, valueAt, end: at };
  }
}

/** The varint fields of a message by number (the last one wins, as in protobuf). */
export function varintFields(msg: Buffer): Map<number, bigint> {
  const out = new Map<number, bigint>();
  for (const f of fields(msg)) if (f.wire === 0) out.set(f.number, readVarint(msg, f.valueAt).value);
  return out;
}
