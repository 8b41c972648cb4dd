import { BlockList, isIP } from 'node:net';

/** What an address is, for deciding where the platform may be made to connect. */
export type AddressClass = 'loopback' | 'link-local' | 'unspecified' | 'multicast' | 'private' | 'public';

const ranges: [AddressClass, string, number, 'ipv4' | 'ipv6'][] = [
  ['unspecified', '0.0.0.0', 8, 'ipv4'],
  ['loopback', '127.0.0.0', 8, 'ipv4'],
  // Cloud metadata services (169.254.169.254 and the like) live here.
  ['link-local', '169.254.0.0', 16, 'ipv4'],
  ['multicast', '224.0.0.0', 4, 'ipv4'],
  ['unspecified', '240.0.0.0', 4, 'ipv4'],
  ['private', '10.0.0.0', 8, 'ipv4'],
  ['private', '172.16.0.0', 12, 'ipv4'],
  ['private', '192.168.0.0', 16, 'ipv4'],
  ['private', '100.64.0.0', 10, 'ipv4'],
  ['unspecified', '::', 128, 'ipv6'],
  ['loopback', '::1', 128, 'ipv6'],
  ['link-local', 'fe80::', 10, 'ipv6'],
  ['multicast', 'ff00::', 8, 'ipv6'],
  ['private', 'fc00::', 7, 'ipv6'],
];
const lists = new Map<AddressClass, BlockList>();
for (const [cls, net, prefix, family] of ranges) {
  let l = lists.get(cls);
  if (!l) lists.set(cls, (l = new BlockList()));
  l.addSubnet(net, prefix, family);
}

/** The class of an IP address (IPv4-mapped IPv6 as its IPv4); undefined for something that is not an IP. */
export function classifyAddress(address: string): AddressClass | undefined {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  const ip = mapped ?? address;
  const family = isIP(ip);
  if (!family) return undefined;
  for (const [cls, list] of lists) if (list.check(ip, family === 4 ? 'ipv4' : 'ipv6')) return cls;
  return 'public';
}
