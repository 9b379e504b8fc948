import type { FastifyReply } from 'fastify';

/** Every error reply has the same shape: a short name and a message that says what to do. */
export const NAMES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  422: 'Unprocessable Entity',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

export function replyError(reply: FastifyReply, code: number, message: string): FastifyReply {
  return reply.code(code).send({ error: NAMES[code] ?? 'Error', message });
}

/** Mutations are for administrators only. */
export function requireAdmin(role: string, reply: FastifyReply): boolean {
  if (role === 'admin') return true;
  replyError(reply, 403, 'this needs the administrator token');
  return false;
}
