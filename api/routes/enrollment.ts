import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { Pool } from 'pg';
import {
  CaFiles,
  CertificateRequestError,
  certificateSha256,
  requestCommonName,
  signRequest,
} from '../../common/certificate-authority';
import { NODE_ID_RULE } from '../../common/names';
import { nodeOfIdentity } from '../../domain/gate-admission';
import { inTransaction } from '../../state/db';
import { issueJoinToken, joinTokenRefusal, redeemJoinToken } from '../../state/join-tokens';
import { issueNodeCredential } from '../../state/node-credentials';
import { replyError, requireAdmin } from '../http-errors';
import { nodeIdSchema, params } from '../schemas';

export interface EnrollmentRoutesOptions {
  db: Pool;
  /** The cluster CA that signs enrolling PCs' certificates (null: enrollment is off, answered 503). */
  ca: CaFiles | null;
  /** The cluster's payload key, handed to an enrolled PC with its credential (null: the cluster has none). */
  payloadKey: Buffer | null;
}

/** The route a PC calls with its join token instead of a bearer token (it has none yet). */
export const ENROLL_ROUTE = 'POST /v1/enroll';

const DEFAULT_TTL_MINUTES = 60;

/**
 * Enrollment (issue 32): an administrator issues a join token bound to a PC id (single use, expiring); the PC sends
 * it with a certificate request for `node:<id>` and gets its credential for migration-api and its client certificate
 * for Temporal, signed by the cluster CA (its key never leaves the PC).
 */
export function enrollmentRoutes(app: FastifyInstance, { db, ca, payloadKey }: EnrollmentRoutesOptions): void {
  app.post<{ Params: { nodeId: string }; Body: { ttlMinutes?: number } | null }>(
    '/v1/nodes/:nodeId/join-token',
    {
      schema: {
        params: params({ nodeId: { ...nodeIdSchema, description: NODE_ID_RULE } }),
        body: {
          type: ['object', 'null'],
          additionalProperties: false,
          properties: {
            ttlMinutes: {
              type: 'integer',
              minimum: 1,
              maximum: 7 * 24 * 60,
              description: `how long it may be used (once); default ${DEFAULT_TTL_MINUTES}`,
            },
          },
        },
      },
    },
    async (request, reply) => {
      if (!requireAdmin(request.role, reply)) return reply;
      const ttlMinutes = request.body?.ttlMinutes ?? DEFAULT_TTL_MINUTES;
      const issued = await issueJoinToken(db, request.params.nodeId, ttlMinutes * 60_000);
      return reply.code(201).send({ nodeId: request.params.nodeId, ...issued });
    },
  );

  app.post<{ Body: { token: string; certificateRequest: string } }>(
    '/v1/enroll',
    {
      schema: {
        description:
          'A PC enrolls: its join token (no bearer token) and a PEM certificate request for CN node:<pc>; answers its ' +
          'credential (shown once), its certificate, the CA certificate and the cluster payload key.',
        security: [],
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['token', 'certificateRequest'],
          properties: {
            token: { type: 'string', minLength: 1, maxLength: 256 },
            certificateRequest: { type: 'string', minLength: 1, maxLength: 16_384 },
          },
        },
      },
    },
    async (request, reply) => {
      if (!ca)
        return replyError(
          reply,
          503,
          'enrollment is off: migration-api was started without the cluster CA (ZANSHIN_CA_CERT, ZANSHIN_CA_KEY)',
        );
      const { token, certificateRequest } = request.body;
      let commonName: string;
      try {
        commonName = await requestCommonName(certificateRequest);
      } catch (err) {
        if (err instanceof CertificateRequestError) return replyError(reply, 400, err.message);
        throw err;
      }
      const nodeId = nodeOfIdentity(commonName);
      if (!nodeId)
        return replyError(
          reply,
          400,
          `the certificate request is for ${JSON.stringify(commonName)}: ask for CN node:<pc>`,
        );
      const refusal = await joinTokenRefusal(db, token, nodeId);
      if (refusal) return replyError(reply, 401, refusal);
      const certificate = await signRequest(ca, certificateRequest, { kind: 'client' });
      const credential = await inTransaction(db, async (client) => {
        if (!(await redeemJoinToken(client, token, nodeId))) return null;
        return issueNodeCredential(client, nodeId, certificateSha256(certificate));
      });
      if (!credential) return replyError(reply, 401, 'this join token was used meanwhile: a token enrolls once');
      request.log.info(`PC ${nodeId} enrolled`);
      return reply.code(201).send({
        nodeId,
        token: credential,
        certificate,
        ca: readFileSync(ca.ca, 'utf8'),
        // The key workflow payloads are encrypted with: a PC's worker needs it (its blast radius: README).
        ...(payloadKey ? { payloadKey: payloadKey.toString('base64url') } : {}),
      });
    },
  );
}
