import cookie from '@fastify/cookie';
import type { CaFiles } from '../common/certificate-authority';
import swagger from '@fastify/swagger';
import type { Client } from '@temporalio/client';
import Fastify, { FastifyInstance } from 'fastify';
import type { Pool } from 'pg';
import { CONTROL_TASK_QUEUE, DEFAULT_LECTURE_WINDOW_DAYS } from '../common/names';
import type { AddressPool } from '../domain/container-network';
import { DEFAULT_POLICY, PlacementPolicy } from '../domain/placement';
import { authenticate, Role } from './auth';
import { credentialOf } from '../state/node-credentials';
import { ownerOfToken } from '../state/owners';
import { ownerRoutes } from './routes/owners';
import { PUBLIC_ROUTES, webRoutes } from './routes/web';
import { eventRoutes } from './routes/events';
import { ENROLL_ROUTE, enrollmentRoutes } from './routes/enrollment';
import { SECURITY_HEADERS, sessionIdentity } from './web/session';
import { containerRoutes } from './routes/containers';
import { lectureRoutes } from './routes/lectures';
import { migrationRoutes } from './routes/migrations';
import { nodeRoutes } from './routes/nodes';
import { errorSchema } from './schemas';
import { NAMES } from './http-errors';

declare module 'fastify' {
  interface FastifyRequest {
    role: Role;
    /** The PC whose credential the request carries (role node). */
    nodeId: string | null;
    /** The owner whose token the request carries (role owner). */
    ownerId: string | null;
    /** The CSRF token of the web session the request came through (null: a bearer token). */
    csrf: string | null;
  }
}

export interface ApiDeps {
  /** The administrator's bearer token; PCs have credentials of their own (node_credentials). */
  adminToken: string;
  db: Pool;
  /** Starts and follows workflows (container start, migrations). */
  temporal: Client;
  /** Log requests (off in tests). @default false */
  logger?: boolean;
  /** Load samples kept for this long. @default 24 h */
  loadRetentionMs?: number;
  /** Placement weights and margins. @default DEFAULT_POLICY */
  policy?: PlacementPolicy;
  /** Campus time zone: CSV times, iCalendar floating times and all-day events. @default Asia/Tokyo */
  timezone?: string;
  /** Timetables are expanded this many days ahead. @default DEFAULT_LECTURE_WINDOW_DAYS */
  lectureWindowDays?: number;
  /** Task queue of the control worker, where workflows start. @default zanshin-control */
  controlTaskQueue?: string;
  /** Where containers' LAN addresses come from. @default null (containers get loopback only) */
  addressPool?: AddressPool | null;
  /** The web view's session cookie only over HTTPS. @default false (migration-api serves plain HTTP today) */
  secureCookies?: boolean;
  /** The cluster CA, with which enrolling PCs' certificates are signed. @default null: enrollment answers 503 */
  enrollmentCa?: CaFiles | null;
  /** The cluster payload key, given to PCs as they enroll. @default null */
  payloadKey?: Buffer | null;
  /** Serve HTTPS with this certificate and key (PEM). @default plain HTTP */
  https?: { cert: Buffer; key: Buffer } | null;
}

/**
 * Builds migration-api: every route needs a bearer token (admin, a PC's own, or an owner's); an owner reaches only
 * their own containers (api/access.ts); other changes need the admin's.
 */
export function buildApi(deps: ApiDeps): FastifyInstance {
  // Unknown fields are refused, not silently dropped (Fastify's default), so a typo never goes unnoticed.
  const app = Fastify({
    logger: deps.logger ?? false,
    ajv: { customOptions: { removeAdditional: false } },
    ...(deps.https ? { https: { ...deps.https, minVersion: 'TLSv1.2' as const } } : {}),
  }) as FastifyInstance; // the routes are the same over HTTP and HTTPS

  app.decorateRequest('role', 'node');
  app.decorateRequest('nodeId', null);
  app.decorateRequest('ownerId', null);
  app.decorateRequest('csrf', null);
  // Cookies are parsed in an onRequest hook of their own, registered before the authentication below.
  void app.register(cookie);
  app.addHook('onSend', async (_request, reply) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) void reply.header(name, value);
  });
  app.setErrorHandler((err: { validation?: unknown; statusCode?: number; message: string }, _request, reply) => {
    if (err.validation) return reply.code(400).send({ error: 'Bad Request', message: err.message });
    const code = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    return reply.code(code).send({ error: NAMES[code] ?? 'Internal Server Error', message: err.message });
  });

  const credentials = (token: string) => credentialOf(deps.db, token);
  const owners = (token: string) => ownerOfToken(deps.db, token);
  app.addHook('onRequest', async (request, reply) => {
    const route = `${request.method} ${request.routeOptions.url}`;
    if (PUBLIC_ROUTES.has(route) || route === ENROLL_ROUTE) return; // the join token is the enrollment's proof
    // A browser's page: its session cookie stands for the token it logged in with (api/web/session.ts).
    if (!request.headers.authorization) {
      const session = await sessionIdentity(deps.db, request);
      if (session && 'status' in session)
        return reply.code(session.status).send({ error: NAMES[session.status], message: session.error });
      if (session) {
        request.role = session.identity.role;
        request.ownerId = session.identity.role === 'owner' ? session.identity.ownerId : null;
        request.csrf = session.csrf;
        return;
      }
    }
    const result = await authenticate(request.headers.authorization, deps.adminToken, credentials, owners);
    if ('error' in result) {
      return reply
        .code(401)
        .header('WWW-Authenticate', 'Bearer')
        .send({ error: 'Unauthorized', message: result.error });
    }
    request.role = result.role;
    request.nodeId = result.role === 'node' ? result.nodeId : null;
    request.ownerId = result.role === 'owner' ? result.ownerId : null;
  });

  // Registered before the routes so that it sees all of them.
  void app.register(swagger, {
    openapi: {
      info: {
        title: 'Zanshin migration-api',
        version: '1',
        description: 'Nodes, load, containers, remnants, lectures and migrations of a Zanshin cluster.',
      },
      components: {
        securitySchemes: {
          bearer: {
            type: 'http',
            scheme: 'bearer',
            description: "the administrator token, a PC's own credential for its reports, or an owner's token",
          },
        },
      },
      security: [{ bearer: [] }],
    },
  });

  void app.register((api, _opts, done) => {
    api.get('/openapi.json', { schema: { hide: true } }, () => app.swagger());

    api.get(
      '/health',
      {
        schema: {
          response: {
            200: {
              type: 'object',
              required: ['status', 'database'],
              properties: {
                status: { type: 'string' },
                database: {
                  type: 'object',
                  properties: { serverVersion: { type: 'string' }, now: { type: 'string' } },
                },
              },
            },
            503: errorSchema,
          },
        },
      },
      async (_request, reply) => {
        try {
          const { rows } = await deps.db.query<{ version: string; now: Date }>(
            "SELECT current_setting('server_version') AS version, now() AS now",
          );
          return { status: 'ok', database: { serverVersion: rows[0]!.version, now: rows[0]!.now.toISOString() } };
        } catch (err) {
          return reply
            .code(503)
            .send({ error: 'Service Unavailable', message: `database query failed: ${(err as Error).message}` });
        }
      },
    );

    const policy = deps.policy ?? DEFAULT_POLICY;
    const controlTaskQueue = deps.controlTaskQueue ?? CONTROL_TASK_QUEUE;
    nodeRoutes(api, {
      db: deps.db,
      loadRetentionMs: deps.loadRetentionMs ?? 24 * 3_600_000,
      temporal: deps.temporal,
      controlTaskQueue,
    });
    containerRoutes(api, {
      db: deps.db,
      temporal: deps.temporal,
      policy,
      controlTaskQueue,
      addressPool: deps.addressPool ?? null,
    });
    lectureRoutes(api, {
      db: deps.db,
      timezone: deps.timezone ?? 'Asia/Tokyo',
      windowDays: deps.lectureWindowDays ?? DEFAULT_LECTURE_WINDOW_DAYS,
    });
    migrationRoutes(api, { db: deps.db, temporal: deps.temporal, policy, controlTaskQueue });
    ownerRoutes(api, { db: deps.db });
    enrollmentRoutes(api, { db: deps.db, ca: deps.enrollmentCa ?? null, payloadKey: deps.payloadKey ?? null });
    eventRoutes(api, { db: deps.db, temporal: deps.temporal });
    webRoutes(api, {
      db: deps.db,
      adminToken: deps.adminToken,
      credentials,
      owners,
      secureCookies: deps.secureCookies ?? false,
      offlineAfterMs: policy.offlineAfterMs,
    });
    done();
  });
  return app;
}
