import { AdminClientConfig, adminClientConfig } from '../common/config';
import type { Env } from '../common/env';

export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    message: string,
    readonly status: number,
    readonly body: unknown,
  ) {
    super(message);
  }
}

export type ApiClientConfig = AdminClientConfig;

/** ZANSHIN_API_URL and the administrator token (see common/config). */
export const apiClientConfig = (env: Env = process.env): ApiClientConfig => adminClientConfig(env);

/** A thin client of migration-api: every non-2xx answer becomes an ApiError carrying the API's own message. */
export class ApiClient {
  constructor(private readonly config: ApiClientConfig) {}

  /** The migration-api this client talks to. */
  get url(): string {
    return this.config.url;
  }

  async call<T>(method: string, route: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.config.url}${route}`, {
        method,
        headers: {
          authorization: `Bearer ${this.config.token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      throw new Error(
        `migration-api at ${this.config.url} is unreachable (${(err as Error).cause ? String((err as Error).cause) : (err as Error).message}); is the cluster up? (npm run cluster -- status)`,
      );
    }
    const text = await res.text();
    const parsed: unknown = text ? JSON.parse(text) : null;
    if (!res.ok)
      throw new ApiError(
        `${method} ${route}: ${(parsed as { message?: string })?.message ?? `HTTP ${res.status}`}`,
        res.status,
        parsed,
      );
    return parsed as T;
  }

  get<T>(route: string): Promise<T> {
    return this.call<T>('GET', route);
  }
  post<T>(route: string, body: unknown = {}): Promise<T> {
    return this.call<T>('POST', route, body);
  }
  put<T>(route: string, body: unknown): Promise<T> {
    return this.call<T>('PUT', route, body);
  }
  delete(route: string): Promise<void> {
    return this.call<void>('DELETE', route);
  }
}
