/**
 * Where an egress job's time goes, stage by stage, when `EDGE_NVR_REDACTION_PROFILE=1` is set:
 * wall time and this process's CPU time (every thread of it: onnxruntime's pool threads work
 * only inside a detector's call, so a stage's CPU is its own), written to stderr as one JSON
 * line when the job ends. Unset (the default), no timer exists and nothing is measured or
 * logged. The ffmpeg processes' CPU is not here: `bench/redact.ts` measures it.
 */
export class StageTimer {
  private readonly stages = new Map<string, { calls: number; wall: number; cpu: number }>();

  static fromEnv(env: NodeJS.ProcessEnv = process.env): StageTimer | undefined {
    return env.EDGE_NVR_REDACTION_PROFILE === '1' ? new StageTimer() : undefined;
  }

  async time<T>(stage: string, fn: () => Promise<T>): Promise<T> {
    const t0 = performance.now(), c0 = process.cpuUsage();
    try {
      return await fn();
    } finally {
      this.add(stage, t0, c0);
    }
  }

  timeSync<T>(stage: string, fn: () => T): T {
    const t0 = performance.now(), c0 = process.cpuUsage();
    try {
      return fn();
    } finally {
      this.add(stage, t0, c0);
    }
  }

  /** `items`, with the wait for each next one counted as `stage` (a decoder's pipe). */
  async *each<T>(stage: string, items: AsyncIterable<T>): AsyncGenerator<T> {
    const it = items[Symbol.asyncIterator]();
    try {
      for (;;) {
        const r = await this.time(stage, () => it.next());
        if (r.done) return;
        yield r.value;
      }
    } finally {
      await it.return?.();
    }
  }

  /** Each stage's calls and total wall and CPU milliseconds, as plain data (what the detection thread sends back). */
  raw(): Array<[string, { calls: number; wall: number; cpu: number }]> {
    return [...this.stages].map(([k, s]) => [k, { ...s }]);
  }

  /** Another thread's stages (`raw`), each name prefixed. */
  absorb(stages: Array<[string, { calls: number; wall: number; cpu: number }]>, prefix: string): void {
    for (const [k, s] of stages) this.stages.set(prefix + k, { ...s });
  }

  /** Per stage: calls, and wall and CPU milliseconds per frame. */
  summary(frames: number): Record<string, { calls: number; wall_ms_per_frame: number; cpu_ms_per_frame: number }> {
    const per = (v: number) => Number((v / Math.max(1, frames)).toFixed(2));
    return Object.fromEntries([...this.stages].map(([k, s]) => [k, { calls: s.calls, wall_ms_per_frame: per(s.wall), cpu_ms_per_frame: per(s.cpu) }]));
  }

  private add(stage: string, t0: number, c0: NodeJS.CpuUsage): void {
    const c = process.cpuUsage(c0);
    const s = this.stages.get(stage) ?? { calls: 0, wall: 0, cpu: 0 };
    s.calls++;
    s.wall += performance.now() - t0;
    s.cpu += (c.user + c.system) / 1000;
    this.stages.set(stage, s);
  }
}

/** `fn`, its time counted under `stage` when profiling (a timer given); without one, just run. */
export function timed<T>(timer: StageTimer | undefined, stage: string, fn: () => Promise<T>): Promise<T> {
  return timer ? timer.time(stage, fn) : fn();
}

/** `timed` for synchronous work. */
export function timedSync<T>(timer: StageTimer | undefined, stage: string, fn: () => T): T {
  return timer ? timer.timeSync(stage, fn) : fn();
}
