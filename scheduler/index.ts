export { ClusterState, type BoundInstance, type NodeInfo, type SiteInfo, type ServiceInfo } from './cluster-state.ts';
export { Scheduler, type Decision, type Judgement } from './scheduler.ts';
export { planMoves, retirementsDue, type Move, type RebalanceOptions, type Stranded } from './rebalance.ts';
export { DEFAULT_SCHEDULER_OPTIONS, type SchedulerOptions } from './types.ts';
