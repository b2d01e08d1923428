/**
 * The promise's value, or `otherwise` once `ms` have passed, whichever comes first. The timer is
 * cleared as soon as the race is decided: a pending one would keep a stopping daemon (or a
 * finished test's process) alive until it fires. `unref`: the timer alone does not keep the
 * process alive either. A rejection of `promise` before the deadline rejects.
 */
export async function settleWithin<T, O>(promise: Promise<T>, ms: number, otherwise: O, opts: { unref?: boolean } = {}): Promise<T | O> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<O>((resolve) => {
    timer = setTimeout(() => resolve(otherwise), ms);
    if (opts.unref) timer.unref();
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Waits `ms`, or less if `signal` aborts first (resolves either way: a stopping loop's pause). */
export function sleepUnlessAborted(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}
