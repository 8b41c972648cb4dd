import http from 'node:http';
import https from 'node:https';

export interface PostResult {
  status: number;
  text: string;
}

/** The node's TLS material (its certificate changes as it renews). */
export interface ClientTls {
  ca: string;
  cert: string;
  key: string;
}

/**
 * POSTs gzip'd JSON bodies to one URL over keep-alive connections with
 * TCP_NODELAY (a batch is one write; Nagle would only hold its tail back).
 * Over https the node presents its certificate; a renewed one is used from
 * the next post on (new connections; the old ones close when idle).
 */
export class UplinkPoster {
  private readonly url: URL;
  private agent: http.Agent;
  private agentCert: string | undefined;
  private readonly request: typeof http.request;

  constructor(
    url: string,
    private readonly credential: string,
    private readonly tls?: () => ClientTls,
  ) {
    this.url = new URL(url);
    const secure = this.url.protocol === 'https:';
    this.agent = secure ? this.httpsAgent() : new http.Agent({ keepAlive: true });
    this.request = secure ? https.request : http.request;
  }

  private httpsAgent(): https.Agent {
    const tls = this.tls?.();
    this.agentCert = tls?.cert;
    return new https.Agent({ keepAlive: true, ...(tls ? { ca: tls.ca, cert: tls.cert, key: tls.key } : {}) });
  }

  private currentAgent(): http.Agent {
    if (this.tls && this.tls().cert !== this.agentCert) {
      const old = this.agent;
      this.agent = this.httpsAgent();
      setTimeout(() => old.destroy(), 30_000).unref();
    }
    return this.agent;
  }

  post(body: Buffer, signal: AbortSignal): Promise<PostResult> {
    return new Promise((resolve, reject) => {
      const req = this.request(
        this.url,
        {
          method: 'POST',
          agent: this.currentAgent(),
          signal,
          headers: {
            authorization: `Bearer ${this.credential}`,
            'content-type': 'application/json',
            'content-encoding': 'gzip',
            'content-length': body.length,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      req.on('socket', (s) => s.setNoDelay(true));
      req.on('error', reject);
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
