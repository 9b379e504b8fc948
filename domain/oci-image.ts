/**
 * OCI images as containers start from them: the reference (skopeo's transport syntax), and what an image's config
 * makes of a container (program, environment, working directory, user, ports). Pure: the node pulls and unpacks
 * with skopeo and umoci (node/images.ts).
 */
import type { ContainerUser } from './reports';

export type ImageTransport = 'oci' | 'oci-archive' | 'docker-archive' | 'docker';

export interface ImageRef {
  transport: ImageTransport;
  /** oci / oci-archive / docker-archive: the absolute path of the layout or archive on the PC. */
  path?: string;
  /** oci / oci-archive: the tag in it (absent: the only image); docker-archive: an image in it (absent: the only). */
  tag?: string;
  /** docker: host[:port]/name[:tag|@digest], as skopeo takes it after `docker://`. */
  reference?: string;
}

export class ImageRefError extends Error {}

const HOW =
  'name an image as oci:/DIR[:TAG], oci-archive:/FILE[:TAG], docker-archive:/FILE[:IMAGE] or docker://HOST/NAME[:TAG]';

/** A reference component: a registry host, a repository path, a tag, or a digest (Docker's distribution grammar). */
const DOCKER_REFERENCE =
  /^[a-z0-9]+(?:[.-][a-z0-9]+)*(?::[0-9]{1,5})?(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)+(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
/** An image named inside a docker-archive: name[:tag], the name possibly with a registry and path. */
const ARCHIVE_IMAGE = /^[a-z0-9]+(?:[._/:-][a-z0-9]+)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$/;

/** Parses and checks an image reference; throws ImageRefError saying what is wrong and what is expected. */
export function parseImageRef(ref: string): ImageRef {
  if (ref.length > 1024) throw new ImageRefError(`image reference is ${ref.length} characters long: ${HOW}`);
  if (/[\0\n\r]/.test(ref)) throw new ImageRefError(`image reference holds a control character: ${HOW}`);
  if (ref.startsWith('docker://')) {
    const reference = ref.slice('docker://'.length);
    if (!DOCKER_REFERENCE.test(reference))
      throw new ImageRefError(`${ref}: not a registry reference (docker://HOST[:PORT]/NAME[:TAG][@sha256:DIGEST])`);
    return { transport: 'docker', reference };
  }
  const colon = ref.indexOf(':');
  const transport = colon > 0 ? ref.slice(0, colon) : '';
  if (transport !== 'oci' && transport !== 'oci-archive' && transport !== 'docker-archive')
    throw new ImageRefError(`${ref}: unknown transport "${transport}": ${HOW}`);
  // As skopeo splits them: the path ends at its first colon (a docker-archive's image name may hold one).
  const rest = ref.slice(colon + 1);
  const tagAt = rest.indexOf(':');
  const [path, tag] = tagAt > 0 ? [rest.slice(0, tagAt), rest.slice(tagAt + 1)] : [rest, undefined];
  if (!path.startsWith('/')) throw new ImageRefError(`${ref}: the path must be absolute (${HOW})`);
  if (path.split('/').includes('..')) throw new ImageRefError(`${ref}: the path must not hold ".."`);
  if (tag !== undefined && !(transport === 'docker-archive' ? ARCHIVE_IMAGE.test(tag) : TAG.test(tag)))
    throw new ImageRefError(`${ref}: "${tag}" is not a valid tag`);
  return { transport, path, ...(tag !== undefined ? { tag } : {}) };
}

/** The reference as skopeo takes it. */
export function skopeoRef(ref: ImageRef): string {
  if (ref.transport === 'docker') return `docker://${ref.reference!}`;
  return `${ref.transport}:${ref.path!}${ref.tag !== undefined ? `:${ref.tag}` : ''}`;
}

/** The part of an OCI image configuration (image-spec config.json, `config` field) a container takes. */
export interface ImageConfig {
  User?: string;
  Env?: string[] | null;
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  WorkingDir?: string;
  ExposedPorts?: Record<string, unknown> | null;
}

/** What an image makes of a container, given what its creator asked for. */
export interface ImageDefaults {
  args: string[];
  env: string[];
  /** Absolute working directory ("/" when the image names none). */
  cwd: string;
  /** The image's user as written ("" or absent: root); numbers are resolved here, names need the rootfs. */
  user: string;
  /** Exposed ports as the image records them ("6379/tcp"). */
  ports: string[];
}

/**
 * The program runs as the image's entrypoint followed by the given arguments, or the image's command when none are
 * given (Docker's and Podman's rule); the image's environment comes first and a given variable replaces it by name.
 */
export function imageDefaults(config: ImageConfig, given: { args?: string[]; env?: string[] } = {}): ImageDefaults {
  const entrypoint = config.Entrypoint ?? [];
  const args = [...entrypoint, ...(given.args?.length ? given.args : (config.Cmd ?? []))];
  if (!args.length || !args[0])
    throw new ImageRefError('the image names no entrypoint or command: give the program to run (args)');
  const env = new Map<string, string>();
  for (const e of [...(config.Env ?? []), ...(given.env ?? [])]) {
    const eq = e.indexOf('=');
    if (eq <= 0) continue; // the image spec's Env entries are VAR=value; anything else is not one
    env.set(e.slice(0, eq), e);
  }
  const cwd = config.WorkingDir?.trim() || '/';
  if (!cwd.startsWith('/')) throw new ImageRefError(`the image's working directory ${cwd} is not absolute`);
  return {
    args,
    env: [...env.values()],
    cwd,
    user: (config.User ?? '').trim(),
    ports: Object.keys(config.ExposedPorts ?? {}).sort(),
  };
}

/** Lines of /etc/passwd or /etc/group: name -> [uid or gid, primary gid]. */
function table(text: string): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length >= 3 && f[0] && /^\d+$/.test(f[2]!)) out.set(f[0], [Number(f[2]), Number(f[3] ?? NaN)]);
  }
  return out;
}

/**
 * The numeric user of an image's `User` ("", "uid", "uid:gid", "name", "name:group"), with the rootfs's passwd and
 * group files for names. Undefined for root (uid 0 and gid 0), as a ContainerSpec has it.
 */
export function resolveImageUser(user: string, files: { passwd?: string; group?: string }): ContainerUser | undefined {
  if (!user) return undefined;
  const [u, g] = user.split(':', 2) as [string, string | undefined];
  const passwd = table(files.passwd ?? '');
  const groups = table(files.group ?? '');
  let uid: number;
  let gid: number | undefined;
  if (/^\d+$/.test(u)) uid = Number(u);
  else {
    const entry = passwd.get(u);
    if (!entry) throw new ImageRefError(`the image runs as user "${u}", whom its /etc/passwd does not name`);
    [uid, gid] = [entry[0]!, entry[1]];
  }
  if (g !== undefined) {
    if (/^\d+$/.test(g)) gid = Number(g);
    else {
      const entry = groups.get(g);
      if (!entry) throw new ImageRefError(`the image runs as group "${g}", which its /etc/group does not name`);
      gid = entry[0];
    }
  }
  if (gid === undefined || Number.isNaN(gid)) gid = uid === 0 ? 0 : (passwd.get(u)?.[1] ?? uid);
  if (uid > 0xfffffffe || gid > 0xfffffffe) throw new ImageRefError(`the image's user ${user} is out of range`);
  return uid === 0 && gid === 0 ? undefined : { uid, gid };
}

/** Programs an entrypoint script uses to drop from root to another user (gosu, su-exec, setpriv, ...). */
const PRIVILEGE_DROP = /(^|[\s;|&/"'`(])(gosu|su-exec|setpriv|runuser|chpst|s6-setuidgid|setuidgid|su)\s/m;

/**
 * Whether a root entrypoint (a script's text) hands the program to another user: such a container runs as that user
 * after all, which a PC without CAP_SYS_RESOURCE cannot checkpoint. A name found, or null.
 */
export function dropsPrivileges(scriptText: string): string | null {
  const noComments = scriptText
    .split('\n')
    .map((l) => l.replace(/^\s*#.*$/, ''))
    .join('\n');
  return PRIVILEGE_DROP.exec(noComments)?.[2] ?? null;
}
