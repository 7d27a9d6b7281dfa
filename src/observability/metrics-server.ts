import { createServer, type Server } from 'node:http';
import type { Logger } from 'pino';
import type { GatewayMetrics } from './metrics.ts';

/**
 * `metrics.listen`: a listener of its own that serves only GET /metrics, without the admin key,
 * for a Prometheus that scrapes over a private network (bind it to one).
 */
export class MetricsServer {
  private server: Server | undefined;
  /** `http://host:port` once listening. */
  url: string | undefined;

  constructor(
    private readonly metrics: GatewayMetrics,
    private readonly listen: string,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    const at = this.listen.lastIndexOf(':');
    const host = this.listen.slice(0, at).replace(/^\[|\]$/g, '');
    const port = Number(this.listen.slice(at + 1));
    const server = createServer((req, res) => {
      if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('Not found: this listener serves only GET /metrics.\n');
        return;
      }
      this.metrics.render().then(
        (text) => res.writeHead(200, { 'content-type': this.metrics.contentType }).end(text),
        (err: unknown) => {
          this.log.error({ err }, 'metrics scrape failed');
          res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics unavailable\n');
        },
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    const address = server.address();
    if (address && typeof address === 'object') this.url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
    this.log.info({ url: this.url }, 'serving /metrics on its own listener');
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
