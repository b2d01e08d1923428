/**
 * bench/memory-probe: where a Node process's memory goes, sampled through a run. Benchmark-only:
 * it is loaded into the daemon by `bench/record.ts --memory-probe` (`node --import` of this file),
 * never by the product.
 *
 * Every PROBE_MS it appends one JSON line to $EDGE_NVR_MEMORY_PROBE: `process.memoryUsage()`
 * (rss, heapTotal, heapUsed, external, arrayBuffers), the kernel's split of the resident set
 * (`RssAnon`: heaps and malloc; `RssFile`: code and mapped files), whether onnxruntime is mapped,
 * the resident set by mapping (bench/smaps-split: the node binary's code, its ICU data, libraries,
 * malloc's main arena, the other anonymous memory), and V8's heap statistics. Worker threads (the view analysis thread) write their own isolate's
 * heap statistics too: `Worker` is wrapped so each thread loads this file before its own module.
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { getHeapStatistics } from 'node:v8';
import { isMainThread, threadId } from 'node:worker_threads';
import { residentSplit } from './smaps-split.js';

const OUT = process.env.EDGE_NVR_MEMORY_PROBE;
const PROBE_MS = Number(process.env.EDGE_NVR_MEMORY_PROBE_MS ?? 2000);
const MB = 1024 * 1024;
const mb = (n: number) => Math.round((n / MB) * 10) / 10;

function status(field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) : NaN;
}

function sample(): void {
  const h = getHeapStatistics();
  const line: Record<string, unknown> = {
    t: Date.now(), thread: threadId,
    heapTotal: mb(h.total_heap_size), heapUsed: mb(h.used_heap_size), heapLimit: mb(h.heap_size_limit), external: mb(h.external_memory),
  };
  if (isMainThread) {
    const u = process.memoryUsage();
    Object.assign(line, {
      rss: mb(u.rss), arrayBuffers: mb(u.arrayBuffers), processExternal: mb(u.external),
      rssAnon: mb(status('RssAnon') * 1024), rssFile: mb(status('RssFile') * 1024),
      onnxruntime: readFileSync('/proc/self/maps', 'utf8').includes('onnxruntime'),
      threads: status('Threads'),
      split: residentSplit(),
    });
  }
  try { appendFileSync(OUT!, JSON.stringify(line) + '\n'); } catch { /* the run's dir is gone: stop quietly */ }
}

if (OUT) {
  setInterval(sample, PROBE_MS).unref();
  sample();
  if (isMainThread) {
    // each worker thread loads this probe first, then its own module
    const wt = createRequire(import.meta.url)('node:worker_threads') as typeof import('node:worker_threads');
    const Original = wt.Worker;
    const self = import.meta.url;
    wt.Worker = class extends Original {
      constructor(script: string | URL, options?: import('node:worker_threads').WorkerOptions) {
        const target = String(script);
        if (options?.eval || !target.startsWith('file:')) super(script, options);
        else super(`import(${JSON.stringify(self)}).then(() => import(${JSON.stringify(target)}))`, { ...options, eval: true });
      }
    } as typeof Original;
    syncBuiltinESMExports();
  }
}
