import { useI18n } from '../i18n/index.ts';
import { href } from '../router.ts';
import { Card, fmt } from './ui.tsx';
import { CITY_PROJECT, type Light } from './scenario-model.ts';

const seconds = (ms: number | null) => (ms === null ? '–' : `${fmt(ms / 1000, 1)} s`);

/**
 * Every traffic light as its twin reports it, per site: which way is green
 * (a word, the chip's colour only repeats it), the green split, and who sent
 * the last command, the edge or the cloud.
 */
export function LightsCard({ sites }: { sites: { site: string; lights: Light[] }[] }) {
  const { t } = useI18n();
  const count = sites.reduce((a, s) => a + s.lights.length, 0);
  return (
    <Card title={t('scenario.lights.title', { n: count })} id="city-lights">
      {count === 0 ? (
        <p class="muted">{t('scenario.lights.none')}</p>
      ) : (
        sites.map(({ site, lights }) => (
          <section key={site} class="city-site">
            <h3 class="work-h3">{t('scenario.lights.site', { site })}</h3>
            <ul class="city-lights">
              {lights.map((l) => (
                <LightCell key={l.device} l={l} />
              ))}
            </ul>
          </section>
        ))
      )}
    </Card>
  );
}

function LightCell({ l }: { l: Light }) {
  const { t } = useI18n();
  const phase = l.phase ? t(`scenario.phase.${l.phase}`) : t('scenario.phase.unknown');
  return (
    <li class={`city-light${l.connected ? '' : ' city-offline'}`} data-intersection={`${l.site}/${l.intersection}`} data-phase={l.phase ?? undefined} data-via={l.via ?? undefined}>
      <a class="city-light-name" href={href('devices', CITY_PROJECT, l.device)} aria-label={t('scenario.lights.device', { name: l.intersection, device: l.device })}>
        {l.intersection}
      </a>
      <span class={`city-phase city-phase-${l.phase?.toLowerCase() ?? 'none'}`}>{phase}</span>
      <span class="city-split">
        <span class="sr-only">{t('scenario.lights.split')} </span>
        {t('scenario.lights.splitValue', { ns: seconds(l.greenNsMs), ew: seconds(l.greenEwMs) })}
      </span>
      <span class="city-via">{l.via ? t(`scenario.lights.via.${l.via}`) : t('scenario.lights.via.none')}</span>
      {!l.connected && <span class="bad">{t('scenario.lights.offline')}</span>}
    </li>
  );
}
