// The registered PCs as migration-api knows them: a node sends data only to one of their data planes, whatever
// address an activity's input names.

/** How long a fetched list is used before it is asked again (a PC registered since is found by a refetch). */
const FRESH_MS = 10_000;

export class PcRegistry {
  private cached: { at: number; dataPlanes: string[] } | null = null;

  constructor(private readonly o: { apiUrl: string; token: string }) {}

  /** The data-plane addresses (ip:port) of the registered PCs; `refresh`: ask migration-api even if fresh. */
  async dataPlanes(refresh = false): Promise<string[]> {
    if (!refresh && this.cached && Date.now() - this.cached.at < FRESH_MS) return this.cached.dataPlanes;
    const url = `${this.o.apiUrl.replace(/\/$/, '')}/v1/nodes`;
    let res: Response;
    try {
      res = await fetch(url, {
        headers: { authorization: `Bearer ${this.o.token}` },
        signal: AbortSignal.timeout(10_000),
      });
    } catch (err) {
      throw new Error(`cannot check the target against the registered PCs: ${url}: ${(err as Error).message}`);
    }
    if (!res.ok) throw new Error(`cannot check the target against the registered PCs: ${url} answered ${res.status}`);
    const body = (await res.json()) as { nodes: { address: string }[] };
    this.cached = { at: Date.now(), dataPlanes: body.nodes.map((n) => n.address) };
    return this.cached.dataPlanes;
  }
}
