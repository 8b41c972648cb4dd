// The smart city's in-vehicle assistant: route guidance per vehicle. Everything
// it must not lose about a vehicle lives in the session-state API (docs/link.md,
// "Continuity"), so the session follows the vehicle from edge to edge:
//   count   - answers given to this vehicle; +1 each, never skipped nor repeated
//   route   - the waypoints the vehicle drives (sent by the vehicle)
//   history - the last guidance steps given
// Each write reports where the vehicle is, so the platform predicts its next site.
//
// POST /guide {vehicle, seq?, at: {lat, lon}, route?: [{name, lat, lon}]}
//   -> {vehicle, count, node, instruction, toward, distanceM}
// seq: the count the vehicle expects. A request it saw fail may still have been
// counted here: asked again (the same seq), the step is answered from the
// history, not counted twice.
// GET /lookup?lat=&lon= -> a stateless route lookup (what the rush hour adds)
//
// Work: ASSIST_WORK_MS a request, ASSIST_WORKERS at a time (ASSIST_REGION_WORKERS
// on a region node: the region's bigger hardware); the rest wait in a queue.
import { createServer } from 'node:http';

const sessions = process.env.GEDGE_SESSION_URL;
const token = process.env.GEDGE_SESSION_TOKEN;
const node = process.env.GEDGE_NODE ?? '';
const workMs = Number(process.env.ASSIST_WORK_MS ?? 20);
const workers = Number((node.startsWith('region') && process.env.ASSIST_REGION_WORKERS) || process.env.ASSIST_WORKERS || 1);
const HISTORY = 10;

const queue = [];
let busy = 0;
/** Holds a worker for workMs: the compute a guidance step takes. */
function work() {
  return new Promise((resolve) => {
    queue.push(resolve);
    next();
  });
}
function next() {
  while (busy < workers && queue.length) {
    busy++;
    const done = queue.shift();
    setTimeout(() => {
      busy--;
      done();
      next();
    }, workMs);
  }
}

async function session(method, vehicle, body) {
  const r = await fetch(`${sessions}/${encodeURIComponent(vehicle)}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: r.status, body: await r.json() };
}

const rad = (d) => (d * Math.PI) / 180;
function metres(a, b) {
  const x = rad(b.lon - a.lon) * Math.cos(rad((a.lat + b.lat) / 2));
  return 6_371_000 * Math.hypot(x, rad(b.lat - a.lat));
}
const HEADINGS = ['north', 'north-east', 'east', 'south-east', 'south', 'south-west', 'west', 'north-west'];
function heading(a, b) {
  const deg = (Math.atan2(rad(b.lon - a.lon) * Math.cos(rad(a.lat)), rad(b.lat - a.lat)) * 180) / Math.PI;
  return HEADINGS[Math.round(((deg + 360) % 360) / 45) % 8];
}

/** The next waypoint: the one after the nearest, on the vehicle's loop. */
function guidance(route, at) {
  if (!route?.length || !at) return { instruction: 'no route', toward: null, distanceM: null };
  let near = 0;
  route.forEach((w, i) => (metres(at, w) < metres(at, route[near]) ? (near = i) : undefined));
  const to = route[(near + 1) % route.length];
  const distanceM = Math.round(metres(at, to));
  return { instruction: `head ${heading(at, to)} for ${distanceM} m to ${to.name}`, toward: to.name, distanceM };
}

async function guide(req) {
  const vehicle = String(req.vehicle ?? '');
  const got = await session('GET', vehicle);
  if (got.status !== 200) return { status: 502, body: got.body };
  await work();
  const d = got.body.data;
  const again = Number.isInteger(req.seq) && (d.count ?? 0) >= req.seq ? d.history?.find((h) => h.count === req.seq) : undefined;
  if (again) return { status: 200, body: { vehicle, count: again.count, node, instruction: again.instruction, again: true } };
  const at = req.at && Number.isFinite(req.at.lat) && Number.isFinite(req.at.lon) ? { lat: req.at.lat, lon: req.at.lon } : undefined;
  const route = Array.isArray(req.route) && req.route.length ? req.route : d.route;
  const count = (d.count ?? 0) + 1;
  const step = guidance(route, at);
  const history = [...(d.history ?? []), { count, at: at ?? null, instruction: step.instruction, node, t: Date.now() }].slice(-HISTORY);
  // ifVersion: read, change, write; two requests racing for one vehicle cannot both win.
  const put = await session('PATCH', vehicle, { set: { count, route, history }, ifVersion: got.body.version, ...(at ? { location: at } : {}) });
  if (put.status !== 200) return { status: put.status === 409 ? 409 : 502, body: put.body };
  return { status: 200, body: { vehicle, count, node, ...step } };
}

function reply(res, status, body) {
  res.statusCode = status;
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify(body));
}

const server = createServer((q, s) => {
  const url = new URL(q.url ?? '/', 'http://assist');
  if (url.pathname === '/healthz') return void s.end('ok');
  if (url.pathname === '/lookup') {
    const at = { lat: Number(url.searchParams.get('lat')), lon: Number(url.searchParams.get('lon')) };
    return void work().then(() => reply(s, 200, { node, at }));
  }
  if (url.pathname !== '/guide' || q.method !== 'POST') return reply(s, 404, { code: 'NotFound', message: 'POST /guide or GET /lookup' });
  let body = '';
  q.on('data', (c) => (body += c));
  q.on('end', () => {
    let req;
    try {
      req = JSON.parse(body);
    } catch {
      return reply(s, 400, { code: 'Invalid', message: 'the body is not JSON' });
    }
    if (!/^[A-Za-z0-9._:@-]{1,128}$/.test(String(req?.vehicle ?? ''))) return reply(s, 400, { code: 'Invalid', message: 'vehicle: letters, digits and . _ : @ -' });
    guide(req).then(
      (r) => reply(s, r.status, r.body),
      (e) => reply(s, 502, { code: 'Unavailable', message: e.message }),
    );
  });
});
server.on('connection', (c) => c.setNoDelay(true));
server.listen(Number(process.env.PORT ?? 8080), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
