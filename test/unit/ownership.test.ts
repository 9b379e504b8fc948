import { maySee, ownerRootfsRefusal, quotaRefusal } from '../../domain/ownership';

describe('who sees a container', () => {
  it('shows an owner their own only; administrators and PCs see all', () => {
    expect(maySee({ role: 'owner', ownerId: 'alice' }, 'alice')).toBe(true);
    expect(maySee({ role: 'owner', ownerId: 'alice' }, 'bob')).toBe(false);
    expect(maySee({ role: 'owner', ownerId: 'alice' }, null)).toBe(false); // an administrator's
    expect(maySee({ role: 'admin' }, 'bob')).toBe(true);
    expect(maySee({ role: 'node' }, 'bob')).toBe(true);
  });
});

describe("an owner's quota", () => {
  const quota = { containers: 2, memoryMiB: 1024, diskMiB: 4096 };
  it('lets a container in that fits, exactly to the limit', () => {
    expect(
      quotaRefusal('alice', quota, { containers: 1, memoryMiB: 512, diskMiB: 2048 }, { memoryMiB: 512, diskMiB: 2048 }),
    ).toBeNull();
  });
  it('names every limit a container would pass', () => {
    expect(
      quotaRefusal('alice', quota, { containers: 2, memoryMiB: 1000, diskMiB: 0 }, { memoryMiB: 64, diskMiB: 10 }),
    ).toBe(
      'owner alice is over quota (containers 2 + 1 > 2; memory 1000 + 64 MiB > 1024 MiB): delete a container, or ask an administrator for more',
    );
    expect(
      quotaRefusal('alice', quota, { containers: 0, memoryMiB: 0, diskMiB: 4000 }, { memoryMiB: 1, diskMiB: 200 }),
    ).toMatch(/disk 4000 \+ 200 MiB > 4096 MiB/);
  });
});

describe("an owner's rootfs", () => {
  it.each([
    [{ image: 'docker://registry.campus/redis:7' }, null],
    [{ dir: '/' }, /registry images only/],
    [{ tarball: '/srv/rootfs.tar' }, /registry images only/],
    [{ image: 'oci:/srv/images/redis:7' }, /registry images only/],
    [{ image: 'oci-archive:/etc/shadow' }, /registry images only/],
  ])('%j: %s', (rootfs, refusal) => {
    const said = ownerRootfsRefusal(rootfs);
    if (refusal === null) expect(said).toBeNull();
    else expect(said).toMatch(refusal);
  });
});
