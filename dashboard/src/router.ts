import { useEffect, useState } from 'preact/hooks';

/**
 * Hash routes (`#/nodes/edge-a-1`): the center serves one page at `/`, and a
 * reload or a shared link lands on the same view. Segments are URI-decoded.
 */
export function currentRoute(): string[] {
  return location.hash
    .replace(/^#\/?/, '')
    .split('/')
    .filter(Boolean)
    .map((s) => decodeURIComponent(s));
}

export function useRoute(): string[] {
  const [route, setRoute] = useState(currentRoute);
  useEffect(() => {
    const on = () => setRoute(currentRoute());
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}

/** The href of a route: `href('nodes', name)` → `#/nodes/<name>`. */
export function href(...segments: string[]): string {
  return `#/${segments.map(encodeURIComponent).join('/')}`;
}
