/** One request to migration-api over real HTTP, with a bearer token; the answer's status, text and parsed body. */
export async function callApi(
  baseUrl: string,
  method: string,
  url: string,
  token: string,
  body?: unknown,
): Promise<{ status: number; text: string; body: Record<string, unknown> }> {
  const res = await fetch(`${baseUrl}${url}`, {
    method,
    body: body === undefined ? undefined : JSON.stringify(body),
    headers: {
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      authorization: `Bearer ${token}`,
    },
  });
  const text = await res.text();
  return { status: res.status, text, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
}
