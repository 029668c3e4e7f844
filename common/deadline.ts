/**
 * Waiting with a deadline: a shutdown waits for what is under way (a store write) only so long,
 * since the store may not answer at all.
 */

/** Waits for `promise` to settle or for `deadline` (ms since the epoch): whether it settled. */
export async function settledBy(promise: Promise<unknown>, deadline: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now()));
  });
  try {
    return await Promise.race([
      promise.then(
        () => true,
        () => true,
      ),
      late,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
