// The hello example: echoes each request with the instance and node that served it.
import { createServer } from 'node:http';

const port = Number(process.env.PORT ?? 8080);
const server = createServer((req, res) => {
  if (req.url === '/healthz') return void res.end('ok');
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ greeting: process.env.GREETING, instance: process.env.GEDGE_INSTANCE, node: process.env.GEDGE_NODE, method: req.method, path: req.url, body }));
  });
});
server.on('connection', (s) => s.setNoDelay(true));
server.listen(port, '127.0.0.1', () => console.log(`echo listening on 127.0.0.1:${port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
