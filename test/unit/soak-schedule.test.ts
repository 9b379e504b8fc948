// The soak's plan of faults (infra/soak/schedule.ts): repeatable from its seed, every kind, none overlapping.
import { FAULT_KINDS, planFaults } from '../../infra/soak/schedule';

const settings = {
  seed: 7,
  minutes: 40,
  pcs: 4,
  leaseSeconds: 8,
  recoverySeconds: 11,
  warmUpMs: 30_000,
  coolDownMs: 60_000,
};

it('plans the same faults for the same seed, and others for another', () => {
  expect(planFaults(settings)).toEqual(planFaults(settings));
  expect(planFaults({ ...settings, seed: 8 })).not.toEqual(planFaults(settings));
});

it('gives every kind its turn, none overlapping, short ones under the lease and long ones past recovery', () => {
  const plan = planFaults(settings);
  for (const kind of FAULT_KINDS) expect(plan.filter((f) => f.kind === kind).length).toBeGreaterThanOrEqual(5);
  for (let i = 1; i < plan.length; i++) expect(plan[i]!.atMs).toBeGreaterThan(plan[i - 1]!.atMs + plan[i - 1]!.forMs);
  for (const f of plan.filter((p) => p.kind === 'partition-short')) expect(f.forMs).toBeLessThan(8_000);
  for (const f of plan.filter((p) => p.kind === 'partition-long')) expect(f.forMs).toBeGreaterThan(11_000);
  const last = plan[plan.length - 1]!;
  expect(last.atMs + last.forMs).toBeLessThan(40 * 60_000 - 60_000);
});
