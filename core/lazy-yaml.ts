import { createRequire } from 'node:module';

type Yaml = typeof import('yaml');
let mod: Yaml | undefined;

/**
 * The yaml library, loaded on first use. Only manifest parsing and YAML output
 * need it; long-running agents never do, and each library loaded costs their
 * footprint (yaml ~8 MB RSS). yaml ships CommonJS, so this stays synchronous.
 */
export function yaml(): Yaml {
  return (mod ??= createRequire(import.meta.url)('yaml') as Yaml);
}
