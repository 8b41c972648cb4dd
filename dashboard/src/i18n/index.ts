import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import { common } from './common.ts';
import { overview } from './overview.ts';
import { topology } from './topology.ts';
import { nodes } from './nodes.ts';
import { workloads } from './workloads.ts';
import { edge } from './edge.ts';
import { apply } from './apply.ts';
import { scenario } from './scenario.ts';
import { airport } from './airport.ts';
import { vehicles } from './vehicles.ts';

/**
 * The one table every visible string goes through. Areas keep their strings
 * in their own module (so they can be edited side by side); they are merged
 * here, and the types make a missing Korean string a compile error.
 */
const AREAS = [common, overview, topology, nodes, workloads, edge, apply, scenario, airport, vehicles] as const;
type Area = (typeof AREAS)[number];
export type MessageKey = Area extends infer A ? (A extends { en: infer E } ? keyof E & string : never) : never;
export type Lang = 'en' | 'ko';
export const LANGS: Lang[] = ['en', 'ko'];

const TABLE: Record<Lang, Record<string, string>> = {
  en: Object.assign({}, ...AREAS.map((a) => a.en)),
  ko: Object.assign({}, ...AREAS.map((a) => a.ko)),
};

export type Translate = (key: MessageKey, params?: Record<string, string | number>) => string;

export function translator(lang: Lang): Translate {
  const nf = new Intl.NumberFormat(lang);
  return (key, params) => {
    const text = TABLE[lang][key] ?? TABLE.en[key] ?? key;
    return params ? text.replace(/\{(\w+)\}/g, (m, p: string) => (p in params ? (typeof params[p] === 'number' ? nf.format(params[p]) : String(params[p])) : m)) : text;
  };
}

export function initialLang(): Lang {
  const saved = localStorage.getItem('gedge.lang');
  if (saved === 'en' || saved === 'ko') return saved;
  return navigator.language.toLowerCase().startsWith('ko') ? 'ko' : 'en';
}

export const I18n = createContext<{ lang: Lang; t: Translate; setLang: (l: Lang) => void }>({ lang: 'en', t: translator('en'), setLang: () => {} });

export function useI18n() {
  return useContext(I18n);
}
