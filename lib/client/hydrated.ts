import { useEffect, useState } from "preact/hooks";

/**
 * False in the server-rendered HTML and until the island has hydrated.
 * Controls stay disabled until then, so nothing typed or clicked before the
 * script runs is silently lost.
 */
export function useHydrated(): boolean {
  const [hydrated, setHydrated] = useState(false);
  useEffect(() => setHydrated(true), []);
  return hydrated;
}
