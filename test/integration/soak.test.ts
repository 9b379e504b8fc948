// The chaos soak, short (issue 28): a few minutes of moves and faults on its own cluster; nothing may run twice,
// nothing acknowledged may be lost, every held chunk verifies at the end. The long run's figures are in the README.
import { runSoak } from '../../infra/soak/soak';

jest.setTimeout(600_000);

it('moves containers while faults strike, with no violation', async () => {
  const report = await runSoak({
    seed: 2026,
    minutes: 2,
    namespacePrefix: 'zy',
    lanSubnet: '10.93.0',
    log: (l) => console.log(`[soak] ${l}`),
  });
  console.log(JSON.stringify({ ...report, violationDetails: report.violationDetails.slice(0, 10) }, null, 2));
  expect(report.violationDetails).toEqual([]);
  expect(report.migrations.completed).toBeGreaterThan(5);
  expect(Object.values(report.faults).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(2);
  // It watched throughout (a look every 200 ms plus the look's own time; a slow machine makes fewer, none make zero).
  expect(report.observer.looks).toBeGreaterThan(60);
  expect(report.redis.checks).toBeGreaterThan(0);
});
