import { checkNodeInput, InvalidInput, liesUnder, NODE_INPUT_SCHEMAS } from '../../domain/node-input';
import { createNodeActivities } from '../../activities/node';

const target = {
  address: '10.77.0.12:7070',
  transferId: '0f8e2b4c-1d2e-4f60-8a9b-0c1d2e3f4a5b',
  token: 'A'.repeat(43),
};
const spec = { containerId: 'web-1', args: ['/bin/sh'], env: ['A=1'], memoryMiB: 64 };
const meta = { generation: 3, createdAt: '2026-11-28T10:00:00Z', strategy: 'kernel', sourceNode: 'pc1', parent: 2 };

const refusal = (activity: keyof typeof NODE_INPUT_SCHEMAS, input: unknown): string => {
  try {
    checkNodeInput(activity, input);
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidInput);
    expect((err as Error).name).toBe('InvalidInput');
    return (err as Error).message;
  }
  throw new Error(`${activity} took ${JSON.stringify(input)}`);
};

describe('node activity input', () => {
  it('takes what the workflows send', () => {
    expect(() => checkNodeInput('restoreLocal', { containerId: 'web-1', generation: 3 })).not.toThrow();
    expect(() =>
      checkNodeInput('sendCheckpoint', { containerId: 'web-1', generation: 3, target, targetHolds: [1, 2] }),
    ).not.toThrow();
    expect(() => checkNodeInput('restoreFromTransfer', { transferId: target.transferId, spec, meta })).not.toThrow();
    expect(() =>
      checkNodeInput('checkpointContainer', {
        containerId: 'web-1',
        leaveRunning: false,
        supersedes: [],
        targetLacks: ['/proc/sysrq-trigger'],
        kernel: { preDump: false, parentCandidates: [2] },
      }),
    ).not.toThrow();
    expect(() =>
      checkNodeInput('createContainer', { ...spec, rootfs: { dir: '/var/cache/zanshin/images/redis' } }),
    ).not.toThrow();
  });

  it.each([
    [
      'a path as generation',
      'restoreLocal',
      { containerId: 'mine', generation: '../../victim/gens/3' },
      '/generation must be integer',
    ],
    ['generation 0', 'restoreLocal', { containerId: 'mine', generation: 0 }, '/generation must be >= 1'],
    ['a fractional generation', 'mergeChain', { containerId: 'mine', generation: 1.5 }, '/generation must be integer'],
    ['a container id with a slash', 'deleteContainer', { containerId: '../victim' }, '/containerId must match'],
    [
      'an unknown field',
      'stopContainer',
      { containerId: 'web-1', force: true },
      'must NOT have additional properties (force)',
    ],
    [
      'a host name as target',
      'syncBundle',
      { containerId: 'web-1', final: true, target: { ...target, address: 'evil.example:80' } },
      '/target/address must match',
    ],
    ['a transfer id with a path', 'abortReceive', { transferId: '../../etc' }, '/transferId must match'],
    [
      'a path in a parent candidate',
      'checkpointContainer',
      { containerId: 'a', leaveRunning: true, kernel: { preDump: true, parentCandidates: ['../x'] } },
      'must be integer',
    ],
    [
      'a skipped mount outside /proc and /sys',
      'checkpointContainer',
      { containerId: 'a', leaveRunning: true, targetLacks: ['/etc/shadow'] },
      '/targetLacks/0 must match',
    ],
    [
      'a meta of another source node id form',
      'keepGeneration',
      { transferId: target.transferId, meta: { ...meta, sourceNode: 'PC 1' } },
      '/meta/sourceNode must match',
    ],
    ['a relative rootfs', 'createContainer', { ...spec, rootfs: { dir: 'rel/path' } }, '/rootfs/dir must match'],
    [
      'a rootfs with ..',
      'createContainer',
      { ...spec, rootfs: { dir: '/var/cache/zanshin/images/../../../etc' } },
      '/rootfs/dir must match',
    ],
    [
      'both rootfs kinds',
      'createContainer',
      { ...spec, rootfs: { dir: '/a', tarball: '/b' } },
      '/rootfs must NOT have more than 1 properties',
    ],
    ['no input', 'containerState', undefined, '(input) must be object'],
  ] as const)('refuses %s, naming the field', (_what, activity, input, message) => {
    expect(refusal(activity, input)).toContain(message);
  });

  it('knows when a real path lies under a root', () => {
    expect(liesUnder('/var/cache/zanshin/images/redis', ['/var/cache/zanshin/images'])).toBe(true);
    expect(liesUnder('/var/cache/zanshin/images', ['/var/cache/zanshin/images/'])).toBe(true);
    expect(liesUnder('/var/cache/zanshin/images-evil/x', ['/var/cache/zanshin/images'])).toBe(false);
    expect(liesUnder('/etc', ['/var/cache/zanshin/images', '/srv/rootfs'])).toBe(false);
  });
});

describe('every node activity checks its own input', () => {
  it.each(Object.keys(NODE_INPUT_SCHEMAS))('%s refuses a bad input under its own name', async (name) => {
    const activities = createNodeActivities({ nodeId: 'pc1' }) as unknown as Record<string, (i: unknown) => unknown>;
    await expect(Promise.resolve().then(() => activities[name]!({ bogus: 1 }))).rejects.toThrow(
      new RegExp(`^${name}: `),
    );
  });
});
