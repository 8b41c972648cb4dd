export { NetworkAwareness, type AgentNetwork, type NetworkOptions } from './network-awareness.ts';
export { MEASURED_LABEL } from './link-recorder.ts';
