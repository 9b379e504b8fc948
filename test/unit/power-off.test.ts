import { finishedEvacuation } from '../../workers/power-off';
import type { EvacuationReport } from '../../workflows/node-lifecycle';

const report = (requestedAt: number, finishedAt: number | null): EvacuationReport => ({
  reason: 'power-off',
  requestedAt,
  deadline: requestedAt + 90_000,
  finishedAt,
  containers: [],
});

describe('the power-off evacuation it waits for', () => {
  it('is the newest one, requested since it asked, once finished', () => {
    expect(finishedEvacuation([report(900, 950), report(1_000, 2_000)], 1_000)).toEqual(report(1_000, 2_000));
  });

  it('is not an earlier evacuation that finished (a lecture one, or the last power-off)', () => {
    expect(finishedEvacuation([report(500, 600)], 1_000)).toBeNull();
  });

  it('is not yet there while the newest one runs, or when there is none', () => {
    expect(finishedEvacuation([report(500, 600), report(1_000, null)], 1_000)).toBeNull();
    expect(finishedEvacuation([], 1_000)).toBeNull();
  });
});
