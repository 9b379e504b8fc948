import {
  dropsPrivileges,
  imageDefaults,
  ImageRefError,
  parseImageRef,
  resolveImageUser,
  skopeoRef,
} from '../../domain/oci-image';

describe('OCI image references', () => {
  it.each([
    ['oci:/var/images/layout:redis', { transport: 'oci', path: '/var/images/layout', tag: 'redis' }],
    ['oci:/var/images/layout', { transport: 'oci', path: '/var/images/layout' }],
    ['oci-archive:/tmp/redis.tar', { transport: 'oci-archive', path: '/tmp/redis.tar' }],
    ['docker-archive:/tmp/r.tar:redis:7', { transport: 'docker-archive', path: '/tmp/r.tar', tag: 'redis:7' }],
    ['docker://10.81.0.1:5000/campus/redis:7.0', { transport: 'docker', reference: '10.81.0.1:5000/campus/redis:7.0' }],
  ])('takes %s', (ref, parsed) => {
    expect(parseImageRef(ref)).toEqual(parsed);
  });

  it('gives skopeo back what it was given', () => {
    for (const ref of ['oci:/a/b:t', 'oci-archive:/x.tar', 'docker://registry.local:5000/a/b@sha256:' + 'a'.repeat(64)])
      expect(skopeoRef(parseImageRef(ref))).toBe(ref);
  });

  it.each([
    ['redis:7', /unknown transport/],
    ['oci:relative/dir', /must be absolute/],
    ['oci:/images/../etc:x', /must not hold "\.\."/],
    ['oci:/images:bad tag', /not a valid tag/],
    ['docker://Registry/UPPER', /not a registry reference/],
    ['docker://redis', /not a registry reference/],
    ['dir:/some/dir', /unknown transport "dir"/],
    ['oci:/x\n:y', /control character/],
  ])('refuses %j, saying why', (ref, why) => {
    expect(() => parseImageRef(ref)).toThrow(ImageRefError);
    expect(() => parseImageRef(ref)).toThrow(why);
  });
});

describe('what an image config makes of a container', () => {
  const config = {
    Entrypoint: ['/usr/local/bin/entry.sh'],
    Cmd: ['redis-server', '--save', ''],
    Env: ['PATH=/usr/bin:/bin', 'MODE=image'],
    WorkingDir: '/data',
    User: '999:999',
    ExposedPorts: { '6379/tcp': {}, '16379/tcp': {} },
  };

  it('runs the entrypoint with the command, in the working directory, ports recorded', () => {
    expect(imageDefaults(config)).toEqual({
      args: ['/usr/local/bin/entry.sh', 'redis-server', '--save', ''],
      env: ['PATH=/usr/bin:/bin', 'MODE=image'],
      cwd: '/data',
      user: '999:999',
      ports: ['16379/tcp', '6379/tcp'],
    });
  });

  it('replaces the command (not the entrypoint) with given arguments, and variables by name', () => {
    const d = imageDefaults(config, { args: ['redis-server', '--port', '7000'], env: ['MODE=given', 'EXTRA=1'] });
    expect(d.args).toEqual(['/usr/local/bin/entry.sh', 'redis-server', '--port', '7000']);
    expect(d.env).toEqual(['PATH=/usr/bin:/bin', 'MODE=given', 'EXTRA=1']);
  });

  it('asks for the program when the image names none, and defaults the rest', () => {
    expect(() => imageDefaults({})).toThrow(/names no entrypoint or command: give the program/);
    expect(imageDefaults({ Cmd: ['/bin/sh'] })).toEqual({ args: ['/bin/sh'], env: [], cwd: '/', user: '', ports: [] });
    expect(() => imageDefaults({ Cmd: ['/bin/sh'], WorkingDir: 'data' })).toThrow(/not absolute/);
  });

  it('resolves users by number and by name; root is no user', () => {
    const passwd = 'root:x:0:0::/root:/bin/sh\nredis:x:101:102::/var/lib/redis:/usr/sbin/nologin\n';
    const group = 'root:x:0:\nredis:x:102:\nstaff:x:50:\n';
    expect(resolveImageUser('', {})).toBeUndefined();
    expect(resolveImageUser('0', {})).toBeUndefined();
    expect(resolveImageUser('root', { passwd })).toBeUndefined();
    expect(resolveImageUser('999:998', {})).toEqual({ uid: 999, gid: 998 });
    expect(resolveImageUser('redis', { passwd, group })).toEqual({ uid: 101, gid: 102 });
    expect(resolveImageUser('redis:staff', { passwd, group })).toEqual({ uid: 101, gid: 50 });
    expect(() => resolveImageUser('nobody', { passwd })).toThrow(/whom its \/etc\/passwd does not name/);
    expect(() => resolveImageUser('redis:wheel', { passwd, group })).toThrow(/which its \/etc\/group does not name/);
  });

  it('finds an entrypoint script that drops to another user', () => {
    expect(dropsPrivileges('#!/bin/sh\nexec gosu redis "$@"\n')).toBe('gosu');
    expect(dropsPrivileges('#!/bin/sh\nchown -R redis .\nexec su-exec redis:redis redis-server\n')).toBe('su-exec');
    expect(dropsPrivileges('#!/bin/sh\n# we used to run gosu here\nexec redis-server "$@"\n')).toBeNull();
    expect(dropsPrivileges('#!/bin/sh\nexec /usr/sbin/setpriv --reuid=101 redis-server\n')).toBe('setpriv');
  });
});
