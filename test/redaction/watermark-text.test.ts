/**
 * README, redaction: every export has "a watermark (box, export id, time)" burnt in. Other tests
 * only see that pixels are lit in the bottom band; this one READS the watermark out of a real
 * export's decoded frames and checks what it says:
 * - the box id (from the config) and the export id, both as the signed manifest names them;
 * - the time the frame was recorded (UTC, to the second), not when the export was made: the
 *   segment is backdated, the range starts half a second before a second's boundary, so the
 *   first frame must say 08:00:00 and the last 08:00:01.
 *
 * The reader: redaction/watermark.ts draws a fixed 5x7 bitmap font at a known place (cells of
 * 6x9 at `floor(height / 360)` pixels each, on a black band from the bottom-left corner). Each
 * glyph it can draw is rendered by watermark() itself into a blank frame to serve as a template,
 * and each cell of the exported frame (sampled at the middle of each font pixel, after the
 * encoder) is read as the template it matches; the band's end tells how many characters there are.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Catalog } from '../../recorder/catalog/catalog.js';
import { blankFrame, type Frame } from '../../redaction/frame.js';
import { watermark } from '../../redaction/watermark.js';
import { backdate } from '../support/backdate.js';
import { runCli } from '../support/cli.js';
import { allFrames, tmp } from './media.js';

const W = 1280, H = 720;
const T0 = Date.parse('2026-11-20T08:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();
// every character the font has; '#' stands for the filled block an unknown character is drawn as
const CHARSET = ' 0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-:._/=+#';

const scale = Math.max(1, Math.floor(H / 360));
const cell = { w: 6 * scale, h: 9 * scale };
const luma = (f: Frame, x: number, y: number) => { const i = (y * f.width + x) * 3; return 0.299 * f.data[i]! + 0.587 * f.data[i + 1]! + 0.114 * f.data[i + 2]!; };
/** the 35 font pixels of character cell k, read at their middles: 1 lit, 0 dark */
const bits = (f: Frame, k: number) => {
  const y0 = f.height - cell.h;
  const out: number[] = [];
  for (let r = 0; r < 7; r++) for (let c = 0; c < 5; c++) {
    out.push(luma(f, scale + k * cell.w + c * scale + (scale >> 1), y0 + scale + r * scale + (scale >> 1)) > 128 ? 1 : 0);
  }
  return out;
};
const templates = [...CHARSET].map((ch) => {
  const f = blankFrame(W, H);
  watermark(f, ch === '#' ? '\u0001' : ch);
  return { ch, bits: bits(f, 0) };
});

/** The watermark's text as the frame shows it; a cell matching no glyph within 2 font pixels reads as '?'. */
function readWatermark(f: Frame): string {
  // the band is black from x 0 to (characters x cell width + 2 x scale), on its top row of pixels
  const bandRow = f.height - cell.h + (scale >> 1);
  let end = 0;
  while (end < f.width && luma(f, end, bandRow) < 100) end++;
  const n = Math.round((end - 2 * scale) / cell.w);
  let text = '';
  for (let k = 0; k < n; k++) {
    const b = bits(f, k);
    const scored = templates.map((g) => ({ ch: g.ch, miss: g.bits.reduce((s, v, i) => s + (v === b[i] ? 0 : 1), 0) })).sort((a, c) => a.miss - c.miss);
    text += scored[0]!.miss <= 2 && scored[1]!.miss > scored[0]!.miss ? scored[0]!.ch : '?';
  }
  return text;
}

t.test('the reader reads what watermark() draws (before any encoder)', async (t) => {
  const f = blankFrame(W, H);
  f.data.fill(200);
  watermark(f, 'box-7 20261120T080000-ab12cd34 2026-11-20T08:00:01Z');
  t.equal(readWatermark(f), 'BOX-7 20261120T080000-AB12CD34 2026-11-20T08:00:01Z', 'the text drawn, read back upper-cased, as the font draws it');
});

t.test('an export\'s watermark says the box id, the export id of its manifest and when each frame was recorded', async (t) => {
  const dir = tmp();
  const dataDir = join(dir, 'data');
  // a light grey picture with nothing to detect: the band and the letters stand out from it
  const clip = join(dir, 'grey.mp4');
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', `color=c=0xc8c8c8:size=${W}x${H}:rate=10`, '-t', '2', '-c:v', 'libx264', '-preset', 'veryfast',
    '-g', '10', '-pix_fmt', 'yuv420p', '-movflags', '+frag_keyframe+empty_moov+default_base_moof', clip]);
  const catalog = Catalog.open(dataDir);
  await backdate(dataDir, catalog, clip, 'cam1', [T0], 2000);
  catalog.close();
  const config = join(dir, 'config.yaml');
  writeFileSync(config, ['box:', '  id: box-7', 'storage:', `  path: ${dataDir}`, 'cameras:', '  - id: cam1', '    source:', '      type: test', ''].join('\n'));

  const out = join(dataDir, 'exports', 'marked.mp4');
  const r = await runCli(['export', '--camera', 'cam1', '--from', iso(T0 + 500), '--to', iso(T0 + 1500), '--reason', 'watermark check', '--requester', 'tester',
    '--out', out, '--config', config, '--json'], { timeoutMs: 120000 });
  t.equal(r.code, 0, `the export succeeds: ${r.stderr}`);
  const m = JSON.parse(readFileSync(`${out}.manifest.json`, 'utf8')) as { box_id: string; export_id: string; frames: number };
  t.equal(m.box_id, 'box-7', 'the manifest names the configured box');
  t.match(m.export_id, /^\d{8}T\d{6}-[0-9a-f]{8}$/, 'and an export id');

  const frames = await allFrames(out);
  t.equal(frames.length, m.frames, 'every frame of the export decoded');
  t.ok(frames.length >= 8, `about a second of frames (${frames.length})`);
  const texts = frames.map(readWatermark);
  const mark = (second: string) => `${m.box_id} ${m.export_id} 2026-11-20T08:00:${second}Z`.toUpperCase();
  t.equal(texts[0], mark('00'), 'the first frame (recorded at 08:00:00.5) says the box, the export id and 08:00:00');
  t.equal(texts.at(-1), mark('01'), 'the last frame (recorded at about 08:00:01.4) says 08:00:01');
  t.same(texts.filter((s) => s !== mark('00') && s !== mark('01')), [], 'every frame carries the box, the export id and its time');
  t.ok(texts.indexOf(mark('01')) > 0 && texts.lastIndexOf(mark('00')) < texts.indexOf(mark('01')), 'the time steps once, forwards, as the frames go');
});
