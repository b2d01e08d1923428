import t from 'tap';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI } from '../support/cli.js';
import { StageTimer } from '../../redaction/stage-timer.js';
import { megamindClip, tmp } from './media.js';

/** `edge-nvr redact IN OUT` with `env`: its exit code and stderr. */
async function redact(input: string, out: string, dataDir: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [CLI, 'redact', input, out, '--data', dataDir], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += String(d); });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return { code, stderr };
}

t.test('the per-stage profile exists only when EDGE_NVR_REDACTION_PROFILE=1', async (t) => {
  t.equal(StageTimer.fromEnv({}), undefined, 'unset: no timer');
  t.equal(StageTimer.fromEnv({ EDGE_NVR_REDACTION_PROFILE: '0' }), undefined, '0: no timer');
  t.ok(StageTimer.fromEnv({ EDGE_NVR_REDACTION_PROFILE: '1' }), '1: a timer');
});

t.test('a timer counts calls, wall and CPU time per stage, per frame', async (t) => {
  const timer = new StageTimer();
  const busy = (ms: number) => { const end = performance.now() + ms; while (performance.now() < end) { /* CPU on purpose */ } };
  for (let i = 0; i < 3; i++) timer.timeSync('busy', () => busy(20));
  await timer.time('waiting', () => new Promise((resolve) => setTimeout(resolve, 30)));
  const s = timer.summary(2);
  t.equal(s.busy!.calls, 3);
  t.ok(s.busy!.wall_ms_per_frame >= 29, `60 ms of work over 2 frames: ${s.busy!.wall_ms_per_frame} ms a frame`);
  t.ok(s.busy!.cpu_ms_per_frame > 5, `busy work is CPU time: ${s.busy!.cpu_ms_per_frame}`);
  t.ok(s.waiting!.wall_ms_per_frame >= 14, 'waiting is wall time');
  t.ok(s.waiting!.cpu_ms_per_frame < s.waiting!.wall_ms_per_frame, 'and hardly CPU time');
});

t.test('an export profiled: one JSON line on stderr with every stage', async (t) => {
  const dir = tmp();
  const clip = megamindClip(dir, 0.5);
  const on = await redact(clip, join(dir, 'profiled.mp4'), join(dir, 'data'), { ...process.env, EDGE_NVR_REDACTION_PROFILE: '1' });
  t.equal(on.code, 0, on.stderr);
  const line = on.stderr.split('\n').find((l) => l.includes('redaction_profile'));
  t.ok(line, 'a profile line');
  const profile = JSON.parse(line!) as { frames: number; redaction_profile: Record<string, { calls: number; cpu_ms_per_frame: number }> };
  const manifest = JSON.parse(readFileSync(join(dir, 'profiled.mp4.manifest.json'), 'utf8')) as { frames: number };
  t.equal(profile.frames, manifest.frames, 'over the frames the manifest counts');
  const stages = profile.redaction_profile;
  // pass 1 runs on the detection thread: its stages come back with the plan, named so
  for (const s of ['decode, pass 1', 'waiting for the detection thread', 'detection thread: detect blazeface', 'detection thread: detect ppocr-det', 'decode, pass 2', 'hide, masks, watermark', 'encoder pipe']) {
    t.ok(stages[s], `stage: ${s}`);
  }
  t.equal(stages['hide, masks, watermark']!.calls, manifest.frames, 'every frame hidden once');
  t.ok(stages['detection thread: detect blazeface']!.calls >= 1 && stages['detection thread: detect blazeface']!.calls < manifest.frames, 'faces looked at on some frames, not all');
  // unset, a redaction says nothing of it: test/redaction/cli.test.ts's export checks its stderr
});
