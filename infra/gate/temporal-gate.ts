// The only way into Temporal from the LAN. The dev server has no TLS of its own, so it listens on the control host's
// loopback and this front terminates mutual TLS for it: a client must show a certificate of the cluster CA whose
// identity is admitted now (a PC's is looked up at every connection and again while it stays open, so revoking it
// cuts that PC off, open connections included). Admitted bytes are passed on untouched (gRPC over HTTP/2).
import net from 'node:net';
import tls from 'node:tls';
import { certificateSha256 } from '../../common/certificate-authority';

/** Why a certificate may not pass now, or null when it may. */
export type Admission = (peer: { commonName: string; fingerprint: string }) => Promise<string | null>;

export interface GateOptions {
  listen: { host: string; port: number };
  /** The Temporal frontend the gate fronts (on loopback). */
  upstream: { host: string; port: number };
  tls: { key: Buffer; cert: Buffer; ca: Buffer };
  admits: Admission;
  /** How often open connections are checked again (a revocation takes at most this long). @default 2000 */
  recheckMs?: number;
  log?: (line: string) => void;
}

interface Open {
  peer: { commonName: string; fingerprint: string };
  socket: tls.TLSSocket;
  upstream: net.Socket;
}

export class TemporalGate {
  private server: tls.Server | null = null;
  private readonly open = new Set<Open>();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly o: GateOptions) {}

  /** Listens; resolves with the port (the one asked, or the one given for port 0). */
  async start(): Promise<number> {
    const log = this.o.log ?? (() => undefined);
    const server = tls.createServer({
      key: this.o.tls.key,
      cert: this.o.tls.cert,
      ca: this.o.tls.ca,
      requestCert: true,
      rejectUnauthorized: true, // no certificate, or one of another CA: the handshake fails
      ALPNProtocols: ['h2'],
      minVersion: 'TLSv1.2',
    });
    server.on('tlsClientError', (err, socket) => {
      log(`refused ${socket.remoteAddress ?? '?'}: ${err.message}`);
    });
    server.on('secureConnection', (socket) => void this.admit(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.o.listen.port, this.o.listen.host, () => resolve());
    });
    this.timer = setInterval(() => void this.recheck(), this.o.recheckMs ?? 2000);
    this.timer.unref();
    return (server.address() as net.AddressInfo).port;
  }

  private async admit(socket: tls.TLSSocket): Promise<void> {
    const log = this.o.log ?? (() => undefined);
    socket.pause();
    const x509 = socket.getPeerX509Certificate();
    const commonName = /(?:^|\n)CN=([^\n]+)/.exec(x509?.subject ?? '')?.[1] ?? '';
    const peer = { commonName, fingerprint: x509 ? certificateSha256(x509.raw) : '' };
    const refusal = x509
      ? await this.o.admits(peer).catch((err: Error) => `cannot check: ${err.message}`)
      : 'no certificate';
    if (refusal) {
      log(`refused ${commonName || '?'} from ${socket.remoteAddress ?? '?'}: ${refusal}`);
      socket.destroy();
      return;
    }
    const upstream = net.connect(this.o.upstream.port, this.o.upstream.host);
    const entry: Open = { peer, socket, upstream };
    this.open.add(entry);
    const close = () => {
      this.open.delete(entry);
      socket.destroy();
      upstream.destroy();
    };
    socket.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
    socket.pipe(upstream);
    upstream.pipe(socket);
    socket.resume();
  }

  /** Cuts the open connections whose certificate may no longer pass (a revoked PC). */
  private async recheck(): Promise<void> {
    const log = this.o.log ?? (() => undefined);
    const verdicts = new Map<string, Promise<string | null>>();
    for (const entry of [...this.open]) {
      const key = entry.peer.fingerprint;
      if (!verdicts.has(key))
        verdicts.set(
          key,
          this.o.admits(entry.peer).catch(() => null),
        );
      const refusal = await verdicts.get(key)!;
      if (refusal) {
        log(`cut ${entry.peer.commonName}: ${refusal}`);
        entry.socket.destroy();
        entry.upstream.destroy();
        this.open.delete(entry);
      }
    }
  }

  /** Connections open now, by identity (for status and tests). */
  openConnections(): string[] {
    return [...this.open].map((e) => e.peer.commonName);
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    for (const e of this.open) {
      e.socket.destroy();
      e.upstream.destroy();
    }
    this.open.clear();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
