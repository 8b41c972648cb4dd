/** One area's strings: English is the reference; Korean must have every key (checked by the type). */
export function defineMessages<const T extends Record<string, string>>(m: { en: T; ko: { [K in keyof T]: string } }) {
  return m;
}
