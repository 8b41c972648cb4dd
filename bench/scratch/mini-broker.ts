// scratch: the smallest MQTT 3.1.1 relay in Node, to find the floor of a Node server's round trip here
import net from 'node:net';
import { createRequire } from 'node:module';
const req = createRequire(import.meta.resolve('aedes'));
const mp = req('mqtt-packet');
const subs = new Map<string, net.Socket[]>();
let nextId = 1;
const server = net.createServer({ noDelay: true }, (s) => {
  const parser = mp.parser({ protocolVersion: 4 });
  parser.on('packet', (p: any) => {
    if (p.cmd === 'connect') s.write(mp.generate({ cmd: 'connack', returnCode: 0, sessionPresent: false }));
    else if (p.cmd === 'subscribe') {
      for (const t of p.subscriptions) subs.set(t.topic, [...(subs.get(t.topic) ?? []), s]);
      s.write(mp.generate({ cmd: 'suback', messageId: p.messageId, granted: p.subscriptions.map((t: any) => t.qos) }));
    } else if (p.cmd === 'publish') {
      for (const sub of subs.get(p.topic) ?? []) sub.write(mp.generate({ cmd: 'publish', topic: p.topic, payload: p.payload, qos: p.qos, messageId: p.qos ? (nextId = (nextId % 65535) + 1) : undefined, retain: false, dup: false }));
      if (p.qos === 1) s.write(mp.generate({ cmd: 'puback', messageId: p.messageId }));
    } else if (p.cmd === 'pingreq') s.write(mp.generate({ cmd: 'pingresp' }));
    else if (p.cmd === 'disconnect') s.end();
  });
  s.on('data', (d) => parser.parse(d));
  s.on('error', () => undefined);
  s.on('close', () => { for (const [k, v] of subs) subs.set(k, v.filter((x) => x !== s)); });
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ port: (server.address() as net.AddressInfo).port })}\n`));
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
