import type { Instance, Node, Resources, Site } from '../../core/index.ts';

/**
 * Where an instance goes. The resource-fit placement is the spine's default;
 * the latency-aware scheduler replaces it behind this same interface.
 */
export interface Candidate {
  node: Node;
  site: Site | undefined;
  /** Sum of the requests of the instances already bound to the node. */
  allocated: Resources;
  /** Instances of the same service already on the node (for spreading). */
  sameService: number;
  /** All instances on the node, so that requests of zero still spread. */
  instances: number;
}

export type Decision =
  | { node: string; reasons: string[] }
  | { node: null; reasons: string[] };

export interface Placement {
  readonly name: string;
  place(instance: Instance, candidates: Candidate[]): Decision;
}
