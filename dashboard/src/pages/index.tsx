import type { JSX } from 'preact';
import { Overview } from './overview.tsx';
import { Scenario } from './scenario.tsx';
import { Airport } from './airport.tsx';
import { Topology } from './topology.tsx';
import { NodeDetail, Nodes } from './nodes.tsx';
import { ServiceDetail, Services } from './services.tsx';
import { InstanceDetail } from './instance.tsx';
import { Devices } from './devices.tsx';
import { Rules } from './rules.tsx';
import { Apply } from './apply.tsx';
import { DEFAULT_PROJECT } from '../components/work-model.tsx';

/**
 * Routes: `#/<nav>[/...]`. `nav` is also the menu entry that is marked
 * current (instances live under Services).
 */
export interface PageDef {
  path: string;
  nav: string;
  render: (route: string[]) => JSX.Element;
}

export const PAGES: PageDef[] = [
  { path: 'overview', nav: 'overview', render: () => <Overview /> },
  { path: 'scenario', nav: 'scenario', render: () => <Scenario /> },
  { path: 'airport', nav: 'airport', render: () => <Airport /> },
  { path: 'topology', nav: 'topology', render: (r) => <Topology site={r[1]} /> },
  { path: 'nodes', nav: 'nodes', render: (r) => (r[1] ? <NodeDetail name={r[1]} /> : <Nodes />) },
  { path: 'services', nav: 'services', render: (r) => (r[1] && r[2] ? <ServiceDetail project={r[1]} name={r[2]} /> : <Services />) },
  { path: 'instances', nav: '', render: (r) => <InstanceDetail project={r[1] ?? DEFAULT_PROJECT} name={r[2] ?? ''} /> },
  { path: 'devices', nav: 'devices', render: (r) => <Devices project={r[1]} name={r[2]} /> },
  { path: 'rules', nav: 'rules', render: (r) => <Rules project={r[1]} name={r[2]} /> },
  { path: 'apply', nav: 'apply', render: () => <Apply /> },
];

export function pageFor(route: string[]): PageDef & { nav: string } {
  const def = PAGES.find((p) => p.path === route[0]) ?? PAGES[0]!;
  return def.path === 'instances' ? { ...def, nav: 'services' } : def;
}
