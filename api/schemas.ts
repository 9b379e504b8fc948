/** JSON schemas shared by routes. Ids follow the same rules everywhere. */

export const nodeIdSchema = { type: 'string', pattern: '^[a-z][a-z0-9-]{0,30}$' } as const;
export const containerIdSchema = { type: 'string', pattern: '^[a-z0-9][a-z0-9_.-]{0,63}$' } as const;
export const roomSchema = { type: 'string', minLength: 1, maxLength: 64, pattern: '^[^\\u0000-\\u001f]+$' } as const;

export const errorSchema = {
  type: 'object',
  required: ['error', 'message'],
  properties: { error: { type: 'string' }, message: { type: 'string' } },
} as const;

export const params = <T extends Record<string, unknown>>(props: T) =>
  ({ type: 'object', required: Object.keys(props), properties: props }) as const;
