import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { REPO_ROOT } from '../testkit/index.ts';

/** `gedge model serve` in its own process, as an agent runs it; resolves once it serves. */
export async function serveModel(file: string, o: { name?: string; maxBatch?: number } = {}): Promise<{ port: number; stop: () => Promise<void> }> {
  const args = ['bin/gedge.mjs', 'model', 'serve', '--file', file, '--port', '0', '--max-batch', String(o.maxBatch ?? 16)];
  if (o.name) args.push('--name', o.name);
  const child: ChildProcess = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /"url":"http:\/\/127\.0\.0\.1:(\d+)\//.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`gedge model serve exited ${code}: ${out}`)));
  });
  return {
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** POSTs an inference request; resolves to the response body (rejects on any status but 200). */
export function postInfer(port: number, agent: http.Agent, model: string, body: string | Buffer, headers: Record<string, string | number> = {}): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: `/v2/models/${model}/infer`, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks)) : reject(new Error(`HTTP ${res.statusCode}: ${Buffer.concat(chunks).toString().slice(0, 200)}`))));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** An Open Inference Protocol request of one FP32 tensor in the binary data extension: body and headers. */
export function binaryRequest(input: string, shape: number[], data: Float32Array): { body: Buffer; headers: Record<string, string | number> } {
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const header = Buffer.from(JSON.stringify({ inputs: [{ name: input, shape, datatype: 'FP32', parameters: { binary_data_size: bytes.length } }] }));
  return { body: Buffer.concat([header, bytes]), headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': header.length } };
}
