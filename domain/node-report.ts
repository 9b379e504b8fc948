import { CONTAINER_ID_PATTERN, NODE_ID_PATTERN } from '../common/names';
import type { ProtectionStatus } from './protection';

/** What a node worker reports to migration-api at a fixed interval: load, capabilities, remnant inventory. */

export interface RemnantReport {
  containerId: string;
  hasBundle: boolean;
  generations: number[];
  imageBytes: number;
  /** Set once the container has left the node. */
  leftAt: string | null;
  expiresAt: string | null;
}

export interface NodeReport {
  address: string;
  taskQueue: string;
  cpu: number;
  memory: number;
  memoryTotalBytes: number;
  memoryAvailableBytes: number;
  cpuModel: string;
  cpuCores: number;
  cpuFlags: string[];
  dirtyTracking: boolean;
  criuVersion: string;
  remnants: RemnantReport[];
  /** What runc on the PC knows of each container it runs or ran, and how a program that ended ended. */
  containers?: RunningReport[];
  /** When `containers` was read (a container that moved here after that is not missing). */
  listedAt?: string;
  /** How this PC dumps: `kernel` (dirty tracking, differential) or `content` (hashing). */
  strategy?: 'kernel' | 'content';
  /** Root here can checkpoint programs running as another user (it holds CAP_SYS_RESOURCE). */
  checkpointsOtherUsers?: boolean;
  /** The shaped rate of the PC's LAN link in bit/s; null when nothing shapes it. */
  linkRateBps?: number | null;
  /** Size and free space of the filesystem holding the PC's data directory (its remnant store). */
  diskTotalBytes?: number;
  diskFreeBytes?: number;
  /** Continuous protection: the newest safety checkpoint of each container this PC runs (node/protection.ts). */
  protection?: ProtectionStatus[];
}

export interface RunningReport {
  containerId: string;
  status: 'running' | 'paused' | 'stopped' | 'created';
  /** zanshin-init's record once the program ended ("exit 0", "signal 9"); null while it runs or when unknown. */
  exit: string | null;
  /** The epoch the PC runs this copy under (domain/fencing.ts); absent or 0: none recorded. */
  epoch?: number;
}

/** migration-api's answer to a report: the copies the PC runs that are stale (another was restored since). */
export interface ReportVerdict {
  stale: string[];
}

const containerId = { type: 'string', pattern: CONTAINER_ID_PATTERN.source } as const;
const timestamp = { type: ['string', 'null'], format: 'date-time' } as const;

/** JSON schema of a report: every field required, nothing extra, numbers in range. */
export const nodeReportSchema = {
  type: 'object',
  additionalProperties: false,
  required: [
    'address',
    'taskQueue',
    'cpu',
    'memory',
    'memoryTotalBytes',
    'memoryAvailableBytes',
    'cpuModel',
    'cpuCores',
    'cpuFlags',
    'dirtyTracking',
    'criuVersion',
    'remnants',
  ],
  properties: {
    address: { type: 'string', minLength: 1, maxLength: 255 },
    taskQueue: { type: 'string', minLength: 1, maxLength: 255 },
    cpu: { type: 'number', minimum: 0, maximum: 1 },
    memory: { type: 'number', minimum: 0, maximum: 1 },
    memoryTotalBytes: { type: 'integer', minimum: 1 },
    memoryAvailableBytes: { type: 'integer', minimum: 0 },
    cpuModel: { type: 'string', maxLength: 255 },
    cpuCores: { type: 'integer', minimum: 1, maximum: 4096 },
    cpuFlags: { type: 'array', maxItems: 1024, items: { type: 'string', pattern: '^[a-z0-9_.]{1,64}$' } },
    dirtyTracking: { type: 'boolean' },
    criuVersion: { type: 'string', maxLength: 64 },
    listedAt: { type: 'string', format: 'date-time' },
    strategy: { type: 'string', enum: ['kernel', 'content'] },
    checkpointsOtherUsers: { type: 'boolean' },
    linkRateBps: { type: ['integer', 'null'], minimum: 0 },
    diskTotalBytes: { type: 'integer', minimum: 0 },
    diskFreeBytes: { type: 'integer', minimum: 0 },
    protection: {
      type: 'array',
      maxItems: 10_000,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['containerId', 'holder', 'generation', 'at', 'frozenMs', 'wireBytes', 'tookMs', 'intervalMs'],
        properties: {
          containerId,
          holder: { type: 'string', pattern: NODE_ID_PATTERN.source },
          generation: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER },
          at: { type: 'string', format: 'date-time' },
          frozenMs: { type: 'integer', minimum: 0, maximum: 2 ** 31 - 1 },
          wireBytes: { type: 'integer', minimum: 0 },
          tookMs: { type: 'integer', minimum: 0, maximum: 2 ** 31 - 1 },
          intervalMs: { type: 'integer', minimum: 0, maximum: 2 ** 31 - 1 },
        },
      },
    },
    containers: {
      type: 'array',
      maxItems: 10_000,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['containerId', 'status', 'exit'],
        properties: {
          containerId,
          status: { type: 'string', enum: ['running', 'paused', 'stopped', 'created'] },
          exit: { type: ['string', 'null'], pattern: '^(exit|signal) \\d{1,3}$' },
          epoch: { type: 'integer', minimum: 0, maximum: 2 ** 40 },
        },
      },
    },
    remnants: {
      type: 'array',
      maxItems: 10_000,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['containerId', 'hasBundle', 'generations', 'imageBytes', 'leftAt', 'expiresAt'],
        properties: {
          containerId,
          hasBundle: { type: 'boolean' },
          generations: { type: 'array', maxItems: 1000, items: { type: 'integer', minimum: 1 } },
          imageBytes: { type: 'integer', minimum: 0 },
          leftAt: timestamp,
          expiresAt: timestamp,
        },
      },
    },
  },
} as const;
