// Who may reach what (issue 31): owners see only their own containers, and another owner's answers as absent (404,
// not 403: an owner does not learn that it exists). Routes ask here rather than compare roles themselves.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { maySee, Viewer } from '../domain/ownership';
import { containerIdsOf, ContainerRow, findContainer } from '../state/containers';
import type { Queryable } from '../state/db';
import { replyError } from './http-errors';

export function viewerOf(request: FastifyRequest): Viewer {
  if (request.role === 'owner') return { role: 'owner', ownerId: request.ownerId! };
  return { role: request.role };
}

/** The container, if it exists and the request may see it; null otherwise (the route answers 404 either way). */
export async function visibleContainer(
  db: Queryable,
  request: FastifyRequest,
  containerId: string,
): Promise<ContainerRow | null> {
  const c = await findContainer(db, containerId);
  return c && maySee(viewerOf(request), c.owner) ? c : null;
}

/** The subset of `items` the request may see, each naming its container by `containerOf`. */
export async function visibleItems<T>(
  db: Queryable,
  request: FastifyRequest,
  items: T[],
  containerOf: (item: T) => string,
): Promise<T[]> {
  const viewer = viewerOf(request);
  if (viewer.role !== 'owner') return items;
  const theirs = new Set(await containerIdsOf(db, viewer.ownerId));
  return items.filter((item) => theirs.has(containerOf(item)));
}

/** Changes to containers are an administrator's, or their owner's; a PC's credential is for its reports. */
export function requireAdminOrOwner(request: FastifyRequest, reply: FastifyReply): boolean {
  if (request.role === 'admin' || request.role === 'owner') return true;
  replyError(reply, 403, 'this needs the administrator token or an owner token');
  return false;
}
