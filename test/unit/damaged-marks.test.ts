// A damaged mark file is told once, not at every report that reads the store again (found in a guest's log: the same
// line every 10 s).
import { DamagedStoreFileError, skipDamaged } from '../../node/store-files';

it('tells each damaged file once, answers null, and rethrows any other error', () => {
  const said = jest.spyOn(console, 'error').mockImplementation(() => undefined);
  try {
    const damaged = () => new DamagedStoreFileError('/s/containers/c1/remnant.json is damaged (0 bytes, not JSON)');
    expect(skipDamaged(damaged())).toBeNull();
    expect(skipDamaged(damaged())).toBeNull();
    expect(skipDamaged(new DamagedStoreFileError('/s/containers/c2/remnant.json is damaged'))).toBeNull();
    expect(said.mock.calls.map((c) => String(c[0]))).toEqual([
      "/s/containers/c1/remnant.json is damaged (0 bytes, not JSON): that container's remnant is left out",
      "/s/containers/c2/remnant.json is damaged: that container's remnant is left out",
    ]);
    expect(() => skipDamaged(new Error('EIO'))).toThrow('EIO');
  } finally {
    said.mockRestore();
  }
});
