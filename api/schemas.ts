/** JSON schemas shared by routes. Ids follow the same rules everywhere (common/names). */
import { CONTAINER_ID_PATTERN, NODE_ID_PATTERN } from '../common/names';
export { containerUserSchema } from '../domain/node-input';

export const nodeIdSchema = { type: 'string', pattern: NODE_ID_PATTERN.source } as const;
export const containerIdSchema = { type: 'string', pattern: CONTAINER_ID_PATTERN.source } as const;
export const roomSchema = { type: 'string', minLength: 1, maxLength: 64, pattern: '^[^\\u0000-\\u001f]+$' } as const;

export const errorSchema = {
  type: 'object',
  required: ['error', 'message'],
  properties: { error: { type: 'string' }, message: { type: 'string' } },
} as const;

export const params = <T extends Record<string, unknown>>(props: T) =>
  ({ type: 'object', required: Object.keys(props), properties: props }) as const;
