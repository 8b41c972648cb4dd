import { useEffect, useRef } from 'preact/hooks';

/**
 * Marks `gedge:<page>` in the Performance timeline at the first frame painted
 * after the page's data is on screen (the benchmark reads it).
 */
export function useMeaningfulPaint(page: string, ready: boolean): void {
  const done = useRef(false);
  useEffect(() => {
    if (!ready || done.current) return;
    done.current = true;
    requestAnimationFrame(() => setTimeout(() => performance.mark(`gedge:${page}`), 0));
  }, [ready, page]);
}
