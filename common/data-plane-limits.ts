/** What a PC's data plane takes from one sender (settings of the node worker; common/config.ts reads them). */
export interface DataPlaneLimits {
  /** Body of a manifest request (read whole, then decoded). */
  maxManifestBytes: number;
  /** A chunk request's frames once decompressed (a small zstd body can expand a thousandfold). */
  maxStreamBytes: number;
  /** Connections open at once; more are closed as they arrive. */
  maxConnections: number;
}

/** Sources cut chunk requests at this much chunk data (plus at most one chunk over, and frame headers). */
export const REQUEST_BATCH_BYTES = 512 << 20;

/** The smallest stream cap a PC may set: a source's largest request must fit (one chunk over and headers). */
export const MIN_STREAM_MIB = 520;

export const DEFAULT_DATA_PLANE_LIMITS: DataPlaneLimits = {
  maxManifestBytes: 64 << 20,
  maxStreamBytes: 640 << 20,
  maxConnections: 64,
};
