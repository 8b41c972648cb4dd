import { useI18n, type MessageKey } from '../i18n/index.ts';
import { Badge } from './ui.tsx';

const PHASES = new Set(['Pending', 'Starting', 'Running', 'Succeeded', 'Failed', 'Unknown']);
const ROLLOUTS = new Set(['Progressing', 'Paused', 'Complete', 'Failed', 'RolledBack']);

/** An instance's phase, in the reader's language (the raw value stays in data-value). */
export function PhaseBadge({ phase }: { phase: string | undefined }) {
  const { t } = useI18n();
  const p = phase ?? 'Pending';
  return <Badge value={p} label={PHASES.has(p) ? t(`workloads.phase.${p}` as MessageKey) : p} />;
}

export function RolloutBadge({ phase }: { phase: string | undefined }) {
  const { t } = useI18n();
  if (!phase) return <span class="muted">–</span>;
  return <Badge value={phase} label={ROLLOUTS.has(phase) ? t(`workloads.rollout.${phase}` as MessageKey) : phase} />;
}

export function YesNo({ value }: { value: boolean | undefined }) {
  const { t } = useI18n();
  return <span class={value ? '' : 'muted'}>{t(value ? 'workloads.yes' : 'workloads.no')}</span>;
}
