// Restores run through zanshin-nothp (node/runc.ts): CRIU then writes a restored process's pages back without
// transparent huge pages, so no page the image lacked becomes resident (on a kernel whose THP is "always", such pages
// made the next differential dump fail on guest PCs: "Missing ... in parent pagemap"). The guest PCs' return moves in
// guest-pcs.test.ts are the end-to-end check; this one checks the helper itself on this kernel.
import execa from 'execa';
import { DEFAULT_NO_THP_BINARY } from '../../node/runc';

it('runs a command, and what it starts, with transparent huge pages off', async () => {
  const plain = await execa('sh', ['-c', 'grep THP_enabled /proc/self/status']);
  expect(plain.stdout).toMatch(/THP_enabled:\s+1/);
  // A child of a child: the setting is inherited across fork and kept across exec, as runc -> criu -> task needs.
  const wrapped = await execa(DEFAULT_NO_THP_BINARY, ['sh', '-c', 'sh -c "grep THP_enabled /proc/self/status"']);
  expect(wrapped.stdout).toMatch(/THP_enabled:\s+0/);
});

it("passes the command's exit status on, and names a command it cannot run", async () => {
  expect((await execa(DEFAULT_NO_THP_BINARY, ['sh', '-c', 'exit 7'], { reject: false })).exitCode).toBe(7);
  const missing = await execa(DEFAULT_NO_THP_BINARY, ['/nonexistent/runc'], { reject: false });
  expect(missing.exitCode).toBe(127);
  expect(missing.stderr).toContain('zanshin-nothp: exec');
});
