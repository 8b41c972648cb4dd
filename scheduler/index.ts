export { ClusterState, instanceKey, serviceKey, type BoundInstance, type NodeInfo, type SiteInfo, type ServiceInfo } from './cluster-state.ts';
export { Scheduler, type Decision, type Judgement } from './scheduler.ts';
export { planMoves, retirementsDue, DEFAULT_REBALANCE, type Move, type RebalanceOptions } from './rebalance.ts';
export { disruptionBudget } from './preemption.ts';
export { POLICY_WEIGHTS, policyOf, weightsOf } from './scores.ts';
export { DEFAULT_SCHEDULER_OPTIONS, type SchedulerOptions } from './types.ts';
export { distanceKm, FIBER_RTT_MS_PER_KM } from './latency.ts';
