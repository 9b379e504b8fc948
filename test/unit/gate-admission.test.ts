import { gateRefusal, nodeIdentity, nodeOfIdentity } from '../../domain/gate-admission';

const pc1 = { commonName: nodeIdentity('pc1'), fingerprint: 'a'.repeat(64) };
const current = { certSha256: 'a'.repeat(64), revokedAt: null };

describe('who passes the Temporal gate', () => {
  it("admits the control plane, administrators, and a PC's current unrevoked certificate", () => {
    expect(gateRefusal({ commonName: 'control', fingerprint: 'x' }, null)).toBeNull();
    expect(gateRefusal({ commonName: 'admin', fingerprint: 'x' }, null)).toBeNull();
    expect(gateRefusal(pc1, current)).toBeNull();
  });

  it('refuses, saying why: a revoked PC, an older certificate of it, a PC without credential, an unknown name', () => {
    expect(gateRefusal(pc1, { ...current, revokedAt: new Date('2026-11-28T10:00:00Z') })).toBe(
      'the credential of PC pc1 was revoked at 2026-11-28T10:00:00.000Z',
    );
    expect(gateRefusal(pc1, { ...current, certSha256: 'b'.repeat(64) })).toMatch(
      /not the current certificate of PC pc1/,
    );
    expect(gateRefusal(pc1, { ...current, certSha256: null })).toMatch(/not the current certificate/);
    expect(gateRefusal(pc1, null)).toBe('PC pc1 has no credential');
    expect(gateRefusal({ commonName: 'student', fingerprint: 'x' }, null)).toMatch(/unknown identity "student"/);
    expect(nodeOfIdentity('node:../x')).toBeNull();
    expect(nodeOfIdentity('node:pc7')).toBe('pc7');
  });
});
