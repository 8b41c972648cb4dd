export { NetworkProbing, type ProbingOptions } from './network-probing.ts';
export { hostPortString, parseHostPort, formatHostPort, type HostPort } from '../../core/host-port.ts';
export { ProbeListenError, NetworkError } from './errors.ts';
