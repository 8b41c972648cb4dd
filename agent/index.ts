export { Agent, AGENT_VERSION, type AgentStatusEvent } from './agent.ts';
export { agentConfigSchema, type AgentConfig } from './config.ts';
