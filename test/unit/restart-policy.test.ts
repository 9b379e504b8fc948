// Restart policies (issue 28): which endings start a program again, and how a crash loop backs off.
import { restartBackoffMs, restartDueAt, restartsInARow, wantsRestart } from '../../domain/restart-policy';

it('restarts as Podman does: never, after a failure only, or always', () => {
  expect(['exit 0', 'exit 3', 'signal 9', null].map((e) => wantsRestart('no', e))).toEqual([
    false,
    false,
    false,
    false,
  ]);
  expect(
    ['exit 0', 'exit 3', 'signal 9', 'gone: pc1 no longer runs it'].map((e) => wantsRestart('on-failure', e)),
  ).toEqual([false, true, true, true]);
  expect(wantsRestart('always', 'exit 0')).toBe(true);
});

it('backs off a crash loop, and forgets it once the program ran ten minutes', () => {
  expect([0, 1, 2, 3, 10].map(restartBackoffMs)).toEqual([10_000, 20_000, 40_000, 80_000, 300_000]);
  const t = new Date('2026-12-05T12:00:00Z');
  const at = (s: number) => new Date(t.getTime() + s * 1000);
  expect(restartsInARow(4, at(0), at(30))).toBe(5);
  expect(restartsInARow(4, at(0), at(601))).toBe(1);
  expect(restartsInARow(0, null, at(0))).toBe(1);
  // Third restart in a row: 40 s after the exit; a program that ran 10 minutes since: 10 s.
  expect(restartDueAt('on-failure', 'exit 1', at(100), 2, at(90))).toEqual(at(140));
  expect(restartDueAt('on-failure', 'exit 1', at(700), 2, at(90))).toEqual(at(710));
  expect(restartDueAt('on-failure', 'exit 0', at(100), 0, null)).toBeNull();
});
