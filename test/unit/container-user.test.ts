import { hasSysResource, userRefusal } from '../../domain/container-user';
import { rootCause } from '../../common/errors';

describe('which PCs can hold a program running as another user', () => {
  // CapEff of this machine kind's root (all but CAP_SYS_RESOURCE, bit 24) and of a full root.
  const sandboxed = 'Name:\tnode\nCapEff:\t000001fffeffffff\nCapBnd:\t000001ffffffffff\n';
  const full = 'CapEff:\t000001ffffffffff\n';

  it('reads CAP_SYS_RESOURCE from the effective set only', () => {
    expect(hasSysResource(sandboxed)).toBe(false);
    expect(hasSysResource(full)).toBe(true);
    expect(hasSysResource('Name:\tx\n')).toBe(false);
  });

  it('refuses a non-root program where CRIU could not dump it, naming the PC, the uid and what to do', () => {
    expect(userRefusal('c1', { uid: 1000, gid: 1000 }, 'pc3', false)).toMatch(
      /^pc3 cannot checkpoint container c1, whose program runs as uid 1000: its root lacks CAP_SYS_RESOURCE.*full root/,
    );
    expect(userRefusal('c1', { uid: 1000, gid: 1000 }, 'pc3', true)).toBeNull();
    expect(userRefusal('c1', { uid: 0, gid: 0 }, 'pc3', false)).toBeNull();
    expect(userRefusal('c1', undefined, 'pc3', false)).toBeNull();
  });
});

describe('rootCause', () => {
  it("finds the node's own message under Temporal's wrappers", () => {
    const inner = Object.assign(new Error('pc1 cannot checkpoint ...'), { type: 'InvalidInput' });
    const activity = Object.assign(new Error('Activity task failed'), { cause: inner });
    const workflow = Object.assign(new Error('Workflow execution failed'), { cause: activity });
    expect(rootCause(workflow)).toEqual({ message: 'pc1 cannot checkpoint ...', type: 'InvalidInput' });
    expect(rootCause(new Error('plain'))).toEqual({ message: 'plain' });
    // A workflow's own failure keeps its context, whatever it wraps.
    const own = Object.assign(new Error('migration of c1 failed: ...'), { cause: inner });
    expect(rootCause(Object.assign(new Error('Workflow execution failed'), { cause: own })).message).toBe(
      'migration of c1 failed: ...',
    );
  });
});
