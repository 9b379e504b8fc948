import { authenticate } from '../../api/auth';

const tokens = { adminToken: 'admin-secret', nodeToken: 'node-secret' };

describe('bearer authentication', () => {
  it('tells admin and node tokens apart', () => {
    expect(authenticate('Bearer admin-secret', tokens)).toEqual({ role: 'admin' });
    expect(authenticate('bearer node-secret', tokens)).toEqual({ role: 'node' });
  });

  it.each([
    [undefined, /missing Authorization header/],
    ['Basic abc', /malformed/],
    ['Bearer', /malformed/],
    ['Bearer admin-secretX', /invalid bearer token/],
  ])('refuses %j with a reason', (header, reason) => {
    const result = authenticate(header, tokens);
    expect(result).toHaveProperty('error');
    expect((result as { error: string }).error).toMatch(reason);
  });
});
