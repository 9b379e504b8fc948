/**
 * What a PC's activities accept. Anyone able to schedule an activity on a PC's task queue chooses its input, so the
 * node checks every field before it touches a path, a process or the network: ids match their rules (they become
 * path components), generations are positive integers, lists are bounded. Checks that need the PC itself (a
 * target is a registered PC's data plane, a rootfs source lies under an allowed root) come after these. Pure.
 */
import Ajv, { ValidateFunction } from 'ajv';
import { CONTAINER_ID_PATTERN, NODE_ID_PATTERN } from '../common/names';
import { ErrorType } from '../common/errors';

/** Named as its ErrorType: an activity's failure takes its error class's name as type (never retried). */
export class InvalidInput extends Error {
  override name = ErrorType.InvalidInput;
}

const containerId = { type: 'string', pattern: CONTAINER_ID_PATTERN.source } as const;
const nodeId = { type: 'string', pattern: NODE_ID_PATTERN.source } as const;
const generation = { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER } as const;
/** The epoch a restore or a creation runs the copy under (domain/generations.ts). */
const epoch = { type: 'integer', minimum: 0, maximum: 2 ** 40 } as const;
const generations = { type: 'array', maxItems: 4096, items: generation } as const;
/** Transfers are named by randomUUID() on the target. */
const transferId = {
  type: 'string',
  pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$',
} as const;
const ipv4 = '(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)(\\.(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)){3}';
const target = {
  type: 'object',
  additionalProperties: false,
  required: ['address', 'transferId', 'token'],
  properties: {
    address: { type: 'string', pattern: `^${ipv4}:\\d{1,5}$` },
    transferId,
    token: { type: 'string', pattern: '^[A-Za-z0-9_-]{16,128}$' },
    // The target's data-plane certificate (the only one the source trusts for it).
    certificate: {
      type: 'string',
      maxLength: 8192,
      pattern: '^-----BEGIN CERTIFICATE-----\\r?\\n[A-Za-z0-9+/=\\r\\n]+-----END CERTIFICATE-----\\r?\\n?$',
    },
  },
} as const;
const strings = (maxItems: number) =>
  ({ type: 'array', maxItems, items: { type: 'string', maxLength: 4096 } }) as const;
const network = {
  type: 'object',
  additionalProperties: false,
  required: ['address', 'prefixLength', 'mac'],
  properties: {
    address: { type: 'string', pattern: `^${ipv4}$` },
    prefixLength: { type: 'integer', minimum: 8, maximum: 30 },
    mac: { type: 'string', pattern: '^([0-9a-f]{2}:){5}[0-9a-f]{2}$' },
    gateway: { type: 'string', pattern: `^${ipv4}$` },
    dns: { type: 'array', maxItems: 8, items: { type: 'string', pattern: `^${ipv4}$` } },
  },
} as const;
/** A container's user: numbers of its own rootfs (the PC's user names mean nothing there). */
export const containerUserSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['uid', 'gid'],
  properties: {
    uid: { type: 'integer', minimum: 0, maximum: 2 ** 31 - 1 },
    gid: { type: 'integer', minimum: 0, maximum: 2 ** 31 - 1 },
  },
} as const;
const specProperties = {
  containerId,
  args: { ...strings(256), minItems: 1 },
  env: strings(1024),
  memoryMiB: { type: 'integer', minimum: 1, maximum: 1 << 20 },
  diskMiB: { type: 'integer', minimum: 1, maximum: 1 << 30 },
  cpus: { type: 'number', minimum: 0.01, maximum: 1024 },
  pids: { type: 'integer', minimum: 8, maximum: 1 << 22 },
  network,
  user: containerUserSchema,
  cwd: { type: 'string', maxLength: 4096, pattern: '^/' },
  image: {
    type: 'object',
    additionalProperties: false,
    required: ['ref', 'digest'],
    properties: {
      ref: { type: 'string', minLength: 1, maxLength: 1024 },
      digest: { type: 'string', pattern: '^sha256:[a-f0-9]{64}$' },
    },
  },
  ports: { type: 'array', maxItems: 256, items: { type: 'string', pattern: '^[0-9]{1,5}(/(tcp|udp|sctp))?$' } },
} as const;
const spec = {
  type: 'object',
  additionalProperties: false,
  required: ['containerId', 'args', 'env', 'memoryMiB'],
  properties: specProperties,
} as const;
const meta = {
  type: 'object',
  additionalProperties: false,
  required: ['generation', 'createdAt', 'strategy', 'sourceNode'],
  properties: {
    generation,
    createdAt: { type: 'string', maxLength: 64 },
    strategy: { enum: ['content', 'kernel'] },
    sourceNode: nodeId,
    parent: generation,
    preDump: { type: 'boolean' },
    rewritten: { enum: ['merged', 'tracking'] },
  },
} as const;
/** An absolute path without `..` components, of a bounded length (rootfs sources; checked again on the PC). */
const absolutePath = { type: 'string', maxLength: 4096, pattern: '^/(?!.*(^|/)\\.\\.(/|$)).*$' } as const;
const kernelPath = { type: 'string', maxLength: 256, pattern: '^/(proc|sys)(/[A-Za-z0-9_.-]+)+$' } as const;

const object = (required: string[], properties: Record<string, unknown>) => ({
  type: 'object',
  additionalProperties: false,
  required,
  properties,
});
const ofContainer = object(['containerId'], { containerId });

/** The input schema of every node activity that takes one. */
export const NODE_INPUT_SCHEMAS = {
  createContainer: object(['containerId', 'args', 'env', 'memoryMiB', 'rootfs'], {
    ...specProperties,
    // From an image, no arguments means the image's command.
    args: strings(256),
    epoch,
    rootfs: {
      type: 'object',
      additionalProperties: false,
      minProperties: 1,
      maxProperties: 1,
      properties: {
        dir: absolutePath,
        tarball: absolutePath,
        image: {
          type: 'string',
          minLength: 4,
          maxLength: 1024,
          pattern: '^(oci|oci-archive|docker-archive):/|^docker://',
        },
      },
    },
  }),
  containerState: ofContainer,
  stopContainer: ofContainer,
  prepareReceive: ofContainer,
  syncBundle: object(['containerId', 'target', 'final'], { containerId, target, final: { type: 'boolean' } }),
  checkpointContainer: object(['containerId', 'leaveRunning'], {
    containerId,
    leaveRunning: { type: 'boolean' },
    supersedes: generations,
    kernel: object(['preDump', 'parentCandidates'], { preDump: { type: 'boolean' }, parentCandidates: generations }),
    targetLacks: { type: 'array', maxItems: 64, items: kernelPath },
    live: { type: 'boolean' },
  }),
  keepGeneration: object(['transferId', 'meta'], { transferId, meta }),
  mergeChain: object(['containerId', 'generation'], { containerId, generation }),
  sendCheckpoint: object(['containerId', 'generation', 'target'], {
    containerId,
    generation,
    target,
    targetHolds: generations,
  }),
  restoreFromTransfer: object(['transferId', 'spec', 'meta'], { transferId, spec, meta, epoch }),
  storeFromTransfer: object(['transferId', 'spec', 'meta'], { transferId, spec, meta }),
  takeOverAddress: object(['transferId', 'spec'], { transferId, spec }),
  applyRunningBundle: object(['transferId'], { transferId }),
  restoreLocal: object(['containerId', 'generation'], { containerId, generation, epoch }),
  leaveRemnant: ofContainer,
  abortReceive: object(['transferId'], { transferId }),
  deleteContainer: ofContainer,
  stopWithCheckpoint: ofContainer,
  startStopped: object(['containerId'], { containerId, epoch }),
  restartContainer: object(['containerId'], { containerId, epoch }),
  execInContainer: object(['containerId', 'args', 'timeoutSeconds'], {
    containerId,
    args: { ...strings(256), minItems: 1 },
    timeoutSeconds: { type: 'integer', minimum: 1, maximum: 3600 },
  }),
  openProtection: object(['containerId', 'source'], { containerId, source: nodeId }),
  acceptProtection: object(['lease'], {
    lease: object(['containerId', 'holder', 'leaseId', 'token', 'address'], {
      containerId,
      holder: nodeId,
      leaseId: target.properties.transferId,
      token: target.properties.token,
      address: target.properties.address,
      certificate: target.properties.certificate,
    }),
  }),
  readLog: object(['containerId', 'stream', 'tailBytes'], {
    containerId,
    stream: { enum: ['stdout', 'stderr'] },
    tailBytes: { type: 'integer', minimum: 1, maximum: 16 << 20 },
  }),
} as const;

export type CheckedActivity = keyof typeof NODE_INPUT_SCHEMAS;

const ajv = new Ajv({ allErrors: false, strict: true });
const validators = new Map<string, ValidateFunction>(
  Object.entries(NODE_INPUT_SCHEMAS).map(([name, schema]) => [name, ajv.compile(schema)]),
);

/** Throws InvalidInput naming the activity and the first field that breaks its rule. */
export function checkNodeInput(activity: CheckedActivity, input: unknown): void {
  const validate = validators.get(activity)!;
  if (validate(input)) return;
  const e = validate.errors?.[0];
  const where = e ? `${e.instancePath || '(input)'} ${e.message ?? 'is invalid'}` : 'is invalid';
  const extra = e?.keyword === 'additionalProperties' ? ` (${String(e.params.additionalProperty)})` : '';
  throw new InvalidInput(`${activity}: ${where}${extra}`);
}

/** Whether `address` ("ip:port") is one of the registered PCs' data planes. */
export function isKnownDataPlane(address: string, dataPlanes: Iterable<string>): boolean {
  for (const known of dataPlanes) if (known === address) return true;
  return false;
}

/** Whether `file` (a real path: symlinks resolved) lies under one of `roots` (real paths too). */
export function liesUnder(file: string, roots: string[]): boolean {
  return roots.some((root) => {
    const r = root.replace(/\/+$/, '');
    return file === r || file.startsWith(`${r}/`);
  });
}
