import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { isDying } from '../../infra/soak/dying';

const STAT = (flags: number) =>
  `4242 (redis server) S 1 4242 4242 0 -1 ${flags} 100 0 0 0 3 1 0 0 20 0 4 0 123 0 0 18446744073709551615`;
const STATUS = (sigPnd: string, shdPnd: string) =>
  `Name:\tredis-server\nState:\tS (sleeping)\nSigPnd:\t${sigPnd}\nShdPnd:\t${shdPnd}\nSigBlk:\t0000000000000000\n`;

it('a process with SIGKILL pending, or exiting, or gone is dying; one with other signals pending is not', () => {
  const idle = STAT(0x400100);
  expect(isDying(STATUS('0000000000000000', '0000000000000000'), idle)).toBe(false);
  expect(isDying(STATUS('0000000000000000', '0000000000004000'), idle)).toBe(false); // SIGTERM (15) pending
  expect(isDying(STATUS('0000000000000000', '0000000000000100'), idle)).toBe(true); // SIGKILL to the group
  expect(isDying(STATUS('0000000000000100', '0000000000000000'), idle)).toBe(true); // SIGKILL to the thread
  expect(isDying(STATUS('0000000000000000', '0000000000000000'), STAT(0x400104))).toBe(true); // PF_EXITING
  expect(isDying('', '')).toBe(true);
});

it('reads a live process of this machine as not dying', async () => {
  const child = spawn('sleep', ['30']);
  try {
    await new Promise((r) => setTimeout(r, 100));
    const read = (f: string) => readFileSync(`/proc/${child.pid}/${f}`, 'utf8');
    expect(isDying(read('status'), read('stat'))).toBe(false);
  } finally {
    child.kill('SIGKILL');
  }
});
