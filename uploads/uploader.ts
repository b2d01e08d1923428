/**
 * Delivers exports, snapshots and evidence bundles to a platform (docs/evidence.md#delivery):
 * the queue is in the catalog (UploadQueue), one upload runs at a time in the daemon, beside the
 * command queue and never in it (an upload waiting on a slow network holds up no command), and
 * off the recorders' path: it only reads files and writes to a socket, streamed. A failed attempt
 * is tried again after the `uploads.retry_s` steps, across restarts; one the server refuses for
 * good (4xx), one past `max_attempts` or `max_age_h`, one whose host is no longer allowed or
 * whose export is gone, is given up. Each outcome is an event, an audit entry and a log line,
 * all naming the destination without its query.
 */
import { modeIssue, readConfigFile } from '../config/secret-files.js';
import { join, relative } from 'node:path';
import type { Logger } from 'pino';
import { readSecret } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { appendAudit } from '../recorder/catalog/audit-log.js';
import type { Catalog } from '../recorder/catalog/catalog.js';
import { UploadQueue, type UploadKind, type UploadRow } from '../recorder/catalog/uploads.js';
import { backoffDelayMs } from '../common/backoff.js';
import type { RaiseEvent } from '../watchdog/events.js';
import { httpsPut, PutError } from './https-put.js';
import { exportEntries, tarLength, tarStream } from './tar-stream.js';
import { checkTarget, hostKey, type UploadTarget } from './target.js';
import { settleWithin } from '../common/deadlines.js';

export const UPLOADER_ACTOR = 'edge-nvr';
/** the longest wait between looks at the queue (a clock step moves due times) */
const MAX_SLEEP_MS = 60_000;
const STOP_WAIT_MS = 5000;

export interface UploaderDeps {
  catalog: Catalog;
  dataDir: string;
  /** the config as it is now (a reload applies to the next attempt) */
  config: () => Config;
  raise: RaiseEvent;
  log: Logger;
  /** the log scrubber: bearer tokens are registered before anything could log them (URLs are
   * never logged: only their destination, and https-put.ts hides the query in its errors) */
  registerSecret: (secret: string) => void;
}

export interface UploadJob {
  kind: UploadKind;
  camera: string | null;
  /** the file or bundle directory written (absolute) */
  source: string;
  requested_by: string;
  request_id: string | null;
}

/** What a command's reply says of the upload it queued. */
export interface QueuedUpload {
  id: number;
  state: 'queued';
  destination: string;
}

export class Uploader {
  private readonly queue: UploadQueue;
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private readonly abort = new AbortController();
  private stopped = false;

  constructor(private readonly deps: UploaderDeps) {
    this.queue = new UploadQueue(deps.catalog);
  }

  /** Attempts the last run left unfinished go back to the queue; what is due is tried. */
  start(): this {
    const interrupted = this.queue.requeueInterrupted();
    if (interrupted) this.deps.log.warn({ uploads: interrupted }, 'uploads interrupted by the last stop are tried again');
    this.kick();
    return this;
  }

  /** Throws TargetError for a target the config does not allow (nothing is written then). */
  check(url: string): UploadTarget {
    return checkTarget(url, this.deps.config().uploads);
  }

  enqueue(target: UploadTarget, job: UploadJob): QueuedUpload {
    const source = relative(this.deps.dataDir, job.source);
    const row = this.queue.add({
      requested_by: job.requested_by, request_id: job.request_id, kind: job.kind, camera: job.camera, source, url: target.url, destination: target.destination,
    });
    appendAudit(this.deps.catalog, {
      actor: job.requested_by, action: 'upload.queued', camera: job.camera, destination: target.destination,
      details: { upload: row.id, kind: job.kind, source, request_id: job.request_id },
    });
    this.deps.log.info({ upload: row.id, kind: job.kind, destination: target.destination, source }, 'upload queued');
    this.kick();
    return { id: row.id, state: 'queued', destination: target.destination };
  }

  /** Stops the running attempt (it is tried again at the next start) and the queue. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.abort.abort(new Error('the daemon is stopping'));
    await settleWithin(this.running ?? Promise.resolve(), STOP_WAIT_MS, undefined);
  }

  private kick(delayMs = 0): void {
    if (this.stopped || this.running) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.drain(), Math.min(Math.max(0, delayMs), MAX_SLEEP_MS));
    this.timer.unref();
  }

  private drain(): void {
    if (this.running || this.stopped) return;
    this.running = (async () => {
      for (;;) {
        if (this.stopped || !this.deps.catalog.db.open) return;
        const { row, nextMs } = this.queue.due(Date.now());
        if (!row) {
          if (nextMs !== undefined) setImmediate(() => this.kick(nextMs - Date.now()));
          return;
        }
        await this.attempt(row);
      }
    })().catch((err: unknown) => {
      this.deps.log.error({ err }, 'the upload queue failed; trying again in a minute');
      setImmediate(() => this.kick(MAX_SLEEP_MS));
    }).finally(() => { this.running = undefined; });
  }

  private async attempt(row: UploadRow): Promise<void> {
    const cfg = this.deps.config().uploads;
    const now = Date.now();
    let target: UploadTarget;
    try {
      target = checkTarget(row.url, cfg);
    } catch (err) {
      return this.giveUp(row, `no longer allowed: ${(err as Error).message}`);
    }
    const settings = cfg!;
    const maxAgeMs = settings.max_age_h * 3600_000;
    if (now - row.created_ms > maxAgeMs) return this.giveUp(row, `not delivered within ${settings.max_age_h} h (uploads.max_age_h); last error: ${row.last_error ?? 'none'}`);
    if (row.attempts >= settings.max_attempts) return this.giveUp(row, `${row.attempts} attempts failed (uploads.max_attempts); last error: ${row.last_error ?? 'none'}`);
    const started = this.queue.started(row.id);
    try {
      let entries;
      try {
        entries = exportEntries(join(this.deps.dataDir, row.source));
      } catch (err) {
        throw new PutError(`${row.source} is no longer on the box (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, true);
      }
      const sent = await httpsPut({
        url: row.url, length: tarLength(entries), body: tarStream(entries), contentType: 'application/x-tar',
        ca: settings.ca_file ? readConfigFile(settings.ca_file).toString('utf8') : undefined, bearer: this.bearer(target),
        timeoutMs: settings.timeout_s * 1000, signal: this.abort.signal,
      });
      this.queue.done(row.id, sent);
      const data = { ...this.about(started), bytes: sent.bytes, sha256: sent.sha256, files: entries.length, status: sent.status };
      this.deps.raise('upload_done', row.camera, data);
      appendAudit(this.deps.catalog, { actor: UPLOADER_ACTOR, action: 'upload.done', camera: row.camera, destination: row.destination, details: data });
    } catch (err) {
      const message = (err as Error).message;
      if (this.abort.signal.aborted) {
        this.queue.retryAt(row.id, `interrupted: ${message}`, Date.now());
        return;
      }
      const permanent = err instanceof PutError && err.permanent;
      const tooOld = Date.now() - row.created_ms > maxAgeMs;
      if (permanent || tooOld || started.attempts >= settings.max_attempts) {
        const why = permanent ? message : `${started.attempts} attempts failed or ${settings.max_age_h} h passed; last error: ${message}`;
        return this.giveUp(started, why);
      }
      // a server asking for a longer wait (Retry-After on 429 or 503) gets it, asking sooner being
      // refused again; never past max_age_h, when the next look gives the upload up
      const asked = Math.min(err instanceof PutError ? err.retryAfterMs ?? 0 : 0, row.created_ms + maxAgeMs - Date.now() + 1000);
      const delay = Math.max(backoffDelayMs(settings.retry_s, started.attempts - 1), asked);
      const retryAtMs = Date.now() + delay;
      this.queue.retryAt(row.id, message, retryAtMs);
      // the platform sees each failed attempt as it happens, not only the final outcome
      this.deps.raise('upload_retrying', row.camera, { ...this.about(started), error: message, retry_at_ms: retryAtMs });
      this.deps.log.warn({ upload: row.id, destination: row.destination, attempt: started.attempts, retry_in_ms: delay, error: message }, 'upload attempt failed; it will be tried again');
    }
  }

  /**
   * The token for this host, read at each attempt (a rotated file applies at once), with the
   * permissions a reload checks: a rotated file every local user may read is not used (it was,
   * until the next reload refused it: an outside probe); the attempt fails until it is fixed.
   */
  private bearer(target: UploadTarget): string | undefined {
    if (!target.tokenFile) return undefined;
    const setting = `uploads.bearer_tokens[${target.host}].token_file`;
    const loose = modeIssue(setting, target.tokenFile);
    if (loose?.level === 'error') throw new PutError(loose.text, false);
    let token: string | undefined;
    try {
      token = readSecret({ password_file: target.tokenFile }, `uploads.bearer_tokens[${target.host}]`);
    } catch (err) {
      throw new PutError((err as Error).message.split('.password_file').join('.token_file'), false);
    }
    if (token) this.deps.registerSecret(token);
    return token;
  }

  private about(row: UploadRow) {
    return {
      upload: row.id, kind: row.kind, destination: row.destination, host: hostKey(new URL(row.url).host), source: row.source,
      attempts: row.attempts, requested_by: row.requested_by, request_id: row.request_id,
    };
  }

  private giveUp(row: UploadRow, error: string): void {
    const failed = this.queue.failed(row.id, error);
    const data = { ...this.about(failed), error };
    this.deps.raise('upload_failed', row.camera, data);
    appendAudit(this.deps.catalog, { actor: UPLOADER_ACTOR, action: 'upload.failed', camera: row.camera, destination: row.destination, details: data });
  }
}
