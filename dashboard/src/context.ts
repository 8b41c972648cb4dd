import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { Live } from './live.ts';

export const LiveContext = createContext<Live | null>(null);

/** The signed-in session's live data (only rendered inside a session). */
export function useLive(): Live {
  const live = useContext(LiveContext);
  if (!live) throw new Error('useLive outside a session');
  return live;
}
