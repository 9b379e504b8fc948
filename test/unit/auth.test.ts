import { authenticate, CredentialLookup, OwnerLookup } from '../../api/auth';

const revokedAt = new Date('2026-11-28T10:00:00Z');
const lookup: CredentialLookup = (token) =>
  Promise.resolve(
    token === 'pc1-secret'
      ? { nodeId: 'pc1', revokedAt: null }
      : token === 'pc2-secret'
        ? { nodeId: 'pc2', revokedAt }
        : null,
  );
const owners: OwnerLookup = (token) =>
  Promise.resolve(
    token === 'zo_alice'
      ? { ownerId: 'alice', revokedAt: null }
      : token === 'zo_bob'
        ? { ownerId: 'bob', revokedAt }
        : null,
  );
const auth = (header: string | undefined) => authenticate(header, 'admin-secret', lookup, owners);

describe('bearer authentication', () => {
  it("tells the administrator and each PC's own credential apart", async () => {
    expect(await auth('Bearer admin-secret')).toEqual({ role: 'admin' });
    expect(await auth('bearer pc1-secret')).toEqual({ role: 'node', nodeId: 'pc1' });
    expect(await auth('Bearer zo_alice')).toEqual({ role: 'owner', ownerId: 'alice' });
  });

  it.each([
    [undefined, /missing Authorization header/],
    ['Basic abc', /malformed/],
    ['Bearer', /malformed/],
    ['Bearer admin-secretX', /invalid bearer token/],
    ['Bearer pc2-secret', /credential of PC pc2 was revoked at 2026-11-28T10:00:00.000Z/],
    ['Bearer zo_bob', /token of owner bob was revoked at 2026-11-28T10:00:00.000Z: ask an administrator/],
  ])('refuses %j with a reason', async (header, reason) => {
    const result = await auth(header);
    expect(result).toHaveProperty('error');
    expect((result as { error: string }).error).toMatch(reason);
  });
});
