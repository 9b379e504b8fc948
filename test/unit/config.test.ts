import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { apiConfig, nodeWorkerConfig, temporalConfig } from '../../common/config';
import { envInt, envSecret } from '../../common/env';
import { ConfigError } from '../../common/errors';

describe('environment settings', () => {
  it('uses documented defaults when unset', () => {
    expect(temporalConfig({})).toEqual({
      address: '127.0.0.1:7233',
      namespace: 'default',
      controlTaskQueue: 'zanshin-control',
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

  it('refuses an API whose admin and node tokens are the same', () => {
    const env = { ZANSHIN_ADMIN_TOKEN: 'a', ZANSHIN_NODE_TOKEN: 'a', ZANSHIN_DATABASE_URL: 'postgres://x' };
    expect(() => apiConfig(env)).toThrow(/must differ/);
    expect(apiConfig({ ...env, ZANSHIN_NODE_TOKEN: 'b' })).toMatchObject({ port: 8787, host: '127.0.0.1' });
  });
});
