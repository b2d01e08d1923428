/**
 * A command that writes what leaves the box (export, snapshot, redact, evidence) is cancelled,
 * not cut off, by SIGTERM, Ctrl-C or a dropped SSH session (SIGHUP, which had ended it at once
 * and left its partial output behind): the job removes its partial output and registers the
 * failure. `release` puts Node's own handling back once the job is over.
 */
const CANCELLING: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];

export function cancelOnSignals(): { signal: AbortSignal; release: () => void } {
  const cancel = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => cancel.abort(new Error(`${signal} received`));
  for (const s of CANCELLING) process.once(s, onSignal);
  return { signal: cancel.signal, release: () => { for (const s of CANCELLING) process.off(s, onSignal); } };
}
