import http from 'node:http';

/** One HTTP request to an endpoint, on `agent`'s kept-alive connection or one of its own: status and body. */
export function httpCall(at: { host: string; port: number }, path: string, o: { method?: string; body?: string; agent?: http.Agent; timeoutMs: number }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers = o.body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(o.body) };
    const req = http.request({ host: at.host, port: at.port, path, method: o.method ?? 'GET', agent: o.agent ?? false, timeout: o.timeoutMs, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end(o.body);
  });
}
