import { parseManifestText } from '../core/manifest.ts';
for (const [name, text] of [
  ['dashes', '---\n'.repeat(262144)],
  ['alias', 'a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\n'],
  ['deep', '['.repeat(100000) + ']'.repeat(100000)],
  ['deepmap', 'a:\n' + Array.from({length: 5000}, (_, i) => ' '.repeat(i+1) + 'a:').join('\n')],
  ['many docs', 'a: 1\n---\n'.repeat(50000)],
] as const) {
  const t = performance.now();
  try { const d = parseManifestText(text); console.log(name, 'ok', d.length); } catch (e) { console.log(name, (e as Error).constructor.name, (e as Error).message.slice(0, 100)); }
  console.log(name, Math.round(performance.now() - t), 'ms');
}
