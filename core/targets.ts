import type { Node, Route, RuleTarget, Site } from './resources.ts';

/**
 * Where rules and routes run, decided in one place: the center sends a node
 * only the rules and routes that run there, and the agent runs only those.
 */

/** What a rule's target reads of a node: its name, site, own Node (labels) and Site (tier, labels). */
export interface TargetSubject {
  node: string;
  site?: string;
  nodeObject?: Node;
  siteObject?: Site;
}

/** Whether a rule's target takes in this node. */
export function ruleTargets(t: RuleTarget, own: TargetSubject): boolean {
  if (t.nodes && !t.nodes.includes(own.node)) return false;
  if (t.sites && !(own.site && t.sites.includes(own.site))) return false;
  const tiers = t.tiers ?? (t.sites || t.nodes ? undefined : ['edge']);
  if (tiers && !(own.siteObject && tiers.includes(own.siteObject.spec.tier))) return false;
  if (t.nodeSelector && !hasLabels(own.nodeObject?.metadata.labels, t.nodeSelector)) return false;
  if (t.siteSelector && !hasLabels(own.siteObject?.metadata.labels, t.siteSelector)) return false;
  return true;
}

/** Whether a route runs at a site (no `sites`: at every site). */
export function routeRunsAt(route: Route, site: string | undefined): boolean {
  return !route.spec.sites || (site !== undefined && route.spec.sites.includes(site));
}

const hasLabels = (labels: Record<string, string> | undefined, want: Record<string, string>): boolean => Object.entries(want).every(([k, v]) => labels?.[k] === v);
