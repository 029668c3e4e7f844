/**
 * Runs `each` over `items` with at most `lanes` calls in flight, and returns the results in the
 * items' order. For fan-outs of remote calls (workflow starts, device requests): enough in flight
 * to hide the round trip, few enough not to swamp the server or open a socket per item.
 */
export async function mapInLanes<T, R>(
  items: readonly T[],
  lanes: number,
  each: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await each(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, lanes), items.length) }, lane));
  return results;
}

/** Workflow starts in flight at once: enough to hide the round trip, few enough for the server. */
export const WORKFLOW_STARTS_AT_ONCE = 32;
