import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Pool } from 'pg';
import { REPO_ROOT } from '../../common/paths';
import { closeSession, openSession } from '../../state/web-sessions';
import { authenticate, CredentialLookup, OwnerLookup } from '../auth';
import { replyError } from '../http-errors';
import { clearSessionCookie, SESSION_COOKIE, SESSION_TTL_MS, setSessionCookie } from '../web/session';

/** The web view's files, served from the package (no CDN): read once at start. */
const STATIC_DIR = path.join(REPO_ROOT, 'api', 'web', 'static');
const FILES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
};

export interface WebRoutesOptions {
  db: Pool;
  adminToken: string;
  credentials: CredentialLookup;
  owners: OwnerLookup;
  /** Cookies only over HTTPS (true once migration-api serves TLS). */
  secureCookies: boolean;
  /** A PC silent this long is drawn offline (the placement policy's figure). */
  offlineAfterMs: number;
}

/** Routes the onRequest hook lets through without a token: the page, its files, the login. */
export const PUBLIC_ROUTES = new Set(['GET /', 'GET /ui/:file', 'POST /ui/login']);

/** The web view: its page and files, and login/logout into a session cookie. Hidden from /openapi.json (not API). */
export function webRoutes(app: FastifyInstance, o: WebRoutesOptions): void {
  const files = new Map(
    Object.entries(FILES).map(([name, type]) => [name, { type, body: readFileSync(path.join(STATIC_DIR, name)) }]),
  );
  const send = (name: string) => files.get(name)!;

  app.get('/', { schema: { hide: true } }, async (_request, reply) => {
    const f = send('index.html');
    return reply.type(f.type).send(f.body);
  });

  app.get<{ Params: { file: string } }>('/ui/:file', { schema: { hide: true } }, async (request, reply) => {
    const f = files.get(request.params.file);
    if (!f) return replyError(reply, 404, `no file ${request.params.file} in the web view`);
    return reply.type(f.type).send(f.body);
  });

  app.post<{ Body: { token: string } }>(
    '/ui/login',
    {
      schema: {
        hide: true,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['token'],
          properties: { token: { type: 'string', minLength: 1, maxLength: 512 } },
        },
      },
    },
    async (request, reply) => {
      const who = await authenticate(`Bearer ${request.body.token}`, o.adminToken, o.credentials, o.owners);
      if ('error' in who) return replyError(reply, 401, who.error);
      if (who.role === 'node')
        return replyError(
          reply,
          403,
          "a PC's credential is for its reports: log in with an owner's or the administrator's token",
        );
      const identity =
        who.role === 'owner' ? { role: 'owner' as const, ownerId: who.ownerId } : { role: 'admin' as const };
      const session = await openSession(o.db, identity, SESSION_TTL_MS);
      setSessionCookie(reply, session.id, session.expiresAt, o.secureCookies);
      return { ...identity, csrf: session.csrf, expiresAt: session.expiresAt };
    },
  );

  // Who the page is (its session), with the CSRF token its changes must carry, and when a silent PC is offline.
  app.get('/ui/session', { schema: { hide: true } }, (request, reply) =>
    reply.send({
      role: request.role,
      ownerId: request.ownerId,
      csrf: request.csrf,
      offlineAfterSeconds: o.offlineAfterMs / 1000,
    }),
  );

  app.post('/ui/logout', { schema: { hide: true } }, async (request, reply) => {
    const id = request.cookies[SESSION_COOKIE];
    if (id) await closeSession(o.db, id);
    clearSessionCookie(reply);
    return reply.code(204).send();
  });
}
