import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { adminClientConfig, apiConfig, nodeWorkerConfig, temporalConfig } from '../../common/config';
import { envInt, envSecret } from '../../common/env';
import { ConfigError } from '../../common/errors';

describe('environment settings', () => {
  it('uses documented defaults when unset', () => {
    expect(temporalConfig({})).toEqual({
      address: '127.0.0.1:7233',
      namespace: 'default',
      controlTaskQueue: 'zanshin-control',
      tls: null,
    });
  });

  it('takes mutual TLS to Temporal only whole, and names what is missing', () => {
    expect(() => temporalConfig({ TEMPORAL_TLS_CERT: '/x.crt' })).toThrow(
      /needs TEMPORAL_TLS_CA and TEMPORAL_TLS_KEY as well/,
    );
    expect(() =>
      temporalConfig({
        TEMPORAL_TLS_CA: '/nope/ca.crt',
        TEMPORAL_TLS_CERT: '/nope/a.crt',
        TEMPORAL_TLS_KEY: '/nope/a.key',
      }),
    ).toThrow(/TEMPORAL_TLS_CA=\/nope\/ca.crt: no such file/);
    const file = __filename;
    expect(temporalConfig({ TEMPORAL_TLS_CA: file, TEMPORAL_TLS_CERT: file, TEMPORAL_TLS_KEY: file }).tls).toEqual({
      ca: file,
      cert: file,
      key: file,
      serverName: 'temporal.zanshin',
    });
  });

  it('names the variable when a number is malformed or out of range', () => {
    expect(() => envInt({ X: 'abc' }, 'X', 1, 0, 10)).toThrow(/X="abc" is not a whole number/);
    expect(() => envInt({ X: '11' }, 'X', 1, 0, 10)).toThrow(/X=11 is out of range \[0, 10\]/);
    expect(envInt({ X: ' 7 ' }, 'X', 1, 0, 10)).toBe(7);
  });

  it('reads a secret from NAME_FILE and fails clearly when it is missing or empty', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'zanshin-env-'));
    try {
      writeFileSync(path.join(dir, 'tok'), 's3cret\n');
      writeFileSync(path.join(dir, 'empty'), '\n');
      expect(envSecret({ T_FILE: path.join(dir, 'tok') }, 'T')).toBe('s3cret');
      expect(() => envSecret({}, 'T')).toThrow(/T \(or T_FILE, a file holding it\) is not set/);
      expect(() => envSecret({ T_FILE: path.join(dir, 'empty') }, 'T')).toThrow(/is empty/);
      expect(() => envSecret({ T_FILE: path.join(dir, 'nope') }, 'T')).toThrow(/cannot be read/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('requires a valid node id for a node worker and derives its task queue', () => {
    expect(nodeWorkerConfig({ ZANSHIN_NODE_ID: 'pc7' }).taskQueue).toBe('node-pc7');
    expect(() => nodeWorkerConfig({})).toThrow(/ZANSHIN_NODE_ID is not set/);
    expect(() => nodeWorkerConfig({ ZANSHIN_NODE_ID: '../x' })).toThrow(ConfigError);
  });

  it('protects every 15 s within 2 % of wall time by default; 0 turns protection off; a bad pair is refused', () => {
    expect(nodeWorkerConfig({ ZANSHIN_NODE_ID: 'pc1' }).protection).toEqual({
      intervalMs: 15_000,
      freezeShare: 0.02,
      maxIntervalMs: 600_000,
    });
    expect(nodeWorkerConfig({ ZANSHIN_NODE_ID: 'pc1', ZANSHIN_PROTECT_SECONDS: '0' }).protection.intervalMs).toBe(0);
    expect(() =>
      nodeWorkerConfig({ ZANSHIN_NODE_ID: 'pc1', ZANSHIN_PROTECT_SECONDS: '900', ZANSHIN_PROTECT_MAX_SECONDS: '600' }),
    ).toThrow(/ZANSHIN_PROTECT_SECONDS \(900\) is longer than ZANSHIN_PROTECT_MAX_SECONDS \(600\)/);
    expect(() => nodeWorkerConfig({ ZANSHIN_NODE_ID: 'pc1', ZANSHIN_PROTECT_FREEZE_PERCENT: '80' })).toThrow(
      /ZANSHIN_PROTECT_FREEZE_PERCENT/,
    );
  });

  it('needs only the administrator token for the API (PCs have credentials of their own)', () => {
    expect(apiConfig({ ZANSHIN_ADMIN_TOKEN: 'a', ZANSHIN_DATABASE_URL: 'postgres://x' })).toMatchObject({
      port: 8787,
      host: '127.0.0.1',
      adminToken: 'a',
    });
    expect(() => apiConfig({ ZANSHIN_DATABASE_URL: 'postgres://x' })).toThrow(/ZANSHIN_ADMIN_TOKEN/);
  });

  it('takes rootfs sources only from the allowed roots, the image cache by default', () => {
    expect(nodeWorkerConfig({ ZANSHIN_NODE_ID: 'pc1' }).rootfsRoots).toEqual(['/var/cache/zanshin/images']);
    expect(nodeWorkerConfig({ ZANSHIN_NODE_ID: 'pc1', ZANSHIN_ROOTFS_ROOTS: '/srv/a:/srv/b' }).rootfsRoots).toEqual([
      '/srv/a',
      '/srv/b',
    ]);
    expect(() => nodeWorkerConfig({ ZANSHIN_NODE_ID: 'pc1', ZANSHIN_ROOTFS_ROOTS: 'rel' })).toThrow(/absolute path/);
  });
});

describe("the CLI's token", () => {
  it("takes an owner's ZANSHIN_TOKEN before the administrator's", () => {
    const both = { ZANSHIN_TOKEN: 'zo_owner', ZANSHIN_ADMIN_TOKEN: 'admin', ZANSHIN_API_URL: 'http://api:1/' };
    expect(adminClientConfig(both)).toEqual({ url: 'http://api:1', token: 'zo_owner' });
    expect(adminClientConfig({ ZANSHIN_ADMIN_TOKEN: 'admin' }).token).toBe('admin');
  });
});
