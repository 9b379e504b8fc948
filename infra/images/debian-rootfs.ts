// Root filesystems for real programs, built from Debian packages at test time (nobody here wrote those programs):
// the packages named and the shared libraries they need, downloaded with the system's apt (bookworm, the host's own
// glibc) and unpacked with dpkg-deb, plus static busybox for a shell. Cached per package list.
import execa from 'execa';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';

export interface DebianRootfsSpec {
  /** A name for the cache directory, e.g. "redis". */
  name: string;
  /** Debian packages whose programs the container runs (their library dependencies come along). */
  packages: string[];
  /** Extra files to write, path inside the rootfs -> content. */
  files?: Record<string, string>;
}

/** Dependencies that are not libraries (maintainer-script tools) or that clash with another provider. */
const LEFT_OUT = /^(libelogind0|libpam.*|libsemanage.*|libdebian-installer.*|libnewt.*|libslang.*|libtextwrap.*)$/;

/** The packages to unpack: the named ones and every library (lib*, zlib*) in their dependency closure. */
async function closure(packages: string[]): Promise<string[]> {
  const r = await execa(
    'apt-cache',
    [
      'depends',
      '--recurse',
      '--no-recommends',
      '--no-suggests',
      '--no-conflicts',
      '--no-breaks',
      '--no-replaces',
      '--no-enhances',
      ...packages,
    ],
    { reject: false },
  );
  if (r.exitCode !== 0)
    throw new Error(`apt-cache cannot resolve ${packages.join(' ')} (run apt-get update?): ${r.stderr.trim()}`);
  const all = r.stdout.split('\n').filter((l) => l && !/^[ <]/.test(l));
  return [...new Set(all)].filter((p) => packages.includes(p) || (/^(lib|zlib)/.test(p) && !LEFT_OUT.test(p))).sort();
}

/** Builds (once) and returns the rootfs directory for `spec`. */
export async function ensureDebianRootfs(
  spec: DebianRootfsSpec,
  cacheDir = process.env.ZANSHIN_CACHE_DIR ?? '/var/cache/zanshin',
): Promise<string> {
  const key = createHash('sha256').update(JSON.stringify(spec)).digest('hex').slice(0, 12);
  const dir = path.join(cacheDir, 'images', `${spec.name}-${key}`);
  const rootfs = path.join(dir, 'rootfs');
  if (existsSync(rootfs)) return rootfs;
  if (!existsSync('/bin/busybox'))
    throw new Error('/bin/busybox is missing: install busybox-static (infra/provision.sh does)');
  let pkgs: string[] = [];
  if (spec.packages.length) {
    try {
      pkgs = await closure(spec.packages);
    } catch {
      await execa('apt-get', ['update', '-qq']);
      pkgs = await closure(spec.packages);
    }
  }
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  const debs = path.join(tmp, 'debs');
  mkdirSync(debs, { recursive: true });
  const dl = pkgs.length
    ? await execa('apt-get', ['download', '-qq', ...pkgs], { cwd: debs, reject: false })
    : { exitCode: 0, stderr: '' };
  if (dl.exitCode !== 0) throw new Error(`downloading ${pkgs.join(' ')} failed: ${dl.stderr.trim()}`);
  const root = path.join(tmp, 'rootfs');
  for (const d of ['bin', 'usr/bin', 'proc', 'dev', 'sys', 'tmp', 'etc', 'data', 'run', 'var/lib'])
    mkdirSync(path.join(root, d), { recursive: true });
  for (const deb of readdirSync(debs)) await execa('dpkg-deb', ['-x', path.join(debs, deb), root]);
  rmSync(debs, { recursive: true, force: true });
  // bookworm's packages install into /usr with /lib -> usr/lib links made by base-files, which is not unpacked.
  for (const link of ['lib', 'lib64']) {
    const target = path.join(root, link);
    if (existsSync(path.join(root, 'usr', link)) && !existsSync(target)) symlinkSync(`usr/${link}`, target);
  }
  // The dynamic loader's canonical path (libc6 makes this link in its maintainer scripts, which dpkg-deb -x skips).
  const loader = path.join(root, 'lib64', 'ld-linux-x86-64.so.2');
  if (existsSync(path.join(root, 'lib', 'x86_64-linux-gnu', 'ld-linux-x86-64.so.2')) && !existsSync(loader)) {
    mkdirSync(path.dirname(loader), { recursive: true });
    symlinkSync('/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2', loader);
  }
  copyFileSync('/bin/busybox', path.join(root, 'bin', 'busybox'));
  for (const tool of ['sh', 'cat', 'ls', 'sleep', 'echo', 'wc', 'sha256sum', 'httpd', 'nc']) {
    if (!existsSync(path.join(root, 'bin', tool))) symlinkSync('busybox', path.join(root, 'bin', tool));
  }
  writeFileSync(
    path.join(root, 'etc', 'passwd'),
    'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n',
  );
  writeFileSync(path.join(root, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
  for (const [file, content] of Object.entries(spec.files ?? {})) {
    const p = path.join(root, file);
    mkdirSync(path.dirname(p), { recursive: true });
    writeFileSync(p, content);
  }
  mkdirSync(path.dirname(dir), { recursive: true });
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return rootfs;
}

/** redis-server from Debian (redis-tools holds the binary, redis-server its name), on every address, no persistence. */
export const REDIS_ROOTFS: DebianRootfsSpec = {
  name: 'redis',
  packages: ['redis-tools', 'redis-server'],
  files: {
    'etc/redis.conf':
      'bind 0.0.0.0\nprotected-mode no\nport 6379\nappendonly no\ndir /data\nenable-debug-command yes\n',
  },
};

/** busybox httpd serving a page (static busybox from Debian's busybox-static, which the provisioning installs). */
export const HTTPD_ROOTFS: DebianRootfsSpec = {
  name: 'httpd',
  packages: [],
  files: { 'www/index.html': '<html><body>zanshin httpd test page</body></html>\n' },
};

/**
 * A Python process holding state, like a student's notebook kernel: a dictionary in memory, a worker thread that
 * keeps counting, and an HTTP server (threads too) that answers with a digest of that state. Python from Debian.
 */
export const PYTHON_STATE_ROOTFS: DebianRootfsSpec = {
  name: 'python-state',
  packages: ['python3.11', 'python3.11-minimal'],
  files: {
    'app/state_server.py': [
      'import hashlib, json, os, random, threading, time',
      'from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer',
      '',
      'state = {f"k{i}": random.random() for i in range(100_000)}',
      'ticks = 0',
      'lock = threading.Lock()',
      '',
      'def tick():',
      '    global ticks',
      '    while True:',
      '        with lock:',
      '            ticks += 1',
      '        time.sleep(0.01)',
      '',
      'def digest():',
      '    with lock:',
      '        return hashlib.sha256(json.dumps(sorted(state.items())).encode()).hexdigest()',
      '',
      'class Handler(BaseHTTPRequestHandler):',
      '    def do_GET(self):',
      '        if self.path.startswith("/set/"):',
      '            key, value = self.path[5:].split("=", 1)',
      '            with lock:',
      '                state[key] = value',
      '        body = json.dumps({"digest": digest(), "keys": len(state), "ticks": ticks, "pid": os.getpid()}).encode()',
      '        self.send_response(200)',
      '        self.send_header("content-type", "application/json")',
      '        self.send_header("content-length", str(len(body)))',
      '        self.end_headers()',
      '        self.wfile.write(body)',
      '    def log_message(self, *args):',
      '        pass',
      '',
      'threading.Thread(target=tick, daemon=True).start()',
      'print("serving state on :8000", flush=True)',
      'ThreadingHTTPServer(("0.0.0.0", 8000), Handler).serve_forever()',
      '',
    ].join('\n'),
  },
};
