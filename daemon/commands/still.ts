import { Catalog } from '../../recorder/catalog/catalog.js';
import { saveStill, type EgressContext } from '../../redaction/egress.js';
import { EXIT, parseCommand, UsageError } from '../args.js';
import { egressOptions, egressTarget, requesterDefault, runEgress } from './egress-command.js';

export const spec = {
  name: 'still',
  summary: 'A redacted still of a live picture given as raw RGB24 on stdin (the daemon writes the stills of tamper events with it, at low priority).',
  usage: 'still --camera ID --size WxH --out FILE.jpg [--at MS] [--requester WHO] [--reason WHY] [--json] [--config FILE | --data DIR] < frame.rgb\n'
    + '       edge-nvr still --batch [--config FILE | --data DIR]   (stdin: a JSON line {camera, width, height, out, at_ms, requester, reason}, then the pixels; repeated)',
  options: {
    camera: { type: 'string' }, size: { type: 'string' }, out: { type: 'string' }, at: { type: 'string' },
    requester: { type: 'string' }, reason: { type: 'string' }, batch: { type: 'boolean' }, ...egressOptions.options,
  },
  help: {
    camera: 'the camera it shows (its privacy masks are burnt in)', size: 'width x height of the picture on stdin', out: 'the image to write (.jpg or .png)',
    at: 'when it was seen, epoch ms (default now)', requester: 'who asks (default: the user running the command)', reason: 'why (default "still command")',
    batch: 'one still after another from stdin, one JSON result line each on stdout, until stdin closes (the detectors load once)',
    ...egressOptions.help,
  },
} as const;

export interface StillHeader { camera: string; width: number; height: number; out: string; at_ms: number; requester: string; reason: string }

export async function run(argv: string[]): Promise<number> {
  const args = parseCommand(spec, argv);
  if (!args) return EXIT.ok;
  const v = args.values;
  if (v.batch) {
    const { config, dataDir } = egressTarget(v);
    const catalog = Catalog.open(dataDir);
    try {
      await batch({ catalog, dataDir, config });
      return EXIT.ok;
    } finally {
      catalog.close();
    }
  }
  if (!v.camera || !v.out || !v.size) throw new UsageError('--camera, --size and --out are required');
  const m = /^(\d{1,5})x(\d{1,5})$/.exec(v.size);
  if (!m) throw new UsageError(`--size: expected WIDTHxHEIGHT, e.g. 640x360, got "${v.size}"`);
  const width = Number(m[1]), height = Number(m[2]);
  const atMs = v.at === undefined ? Date.now() : Number(v.at);
  if (!Number.isInteger(atMs) || atMs < 0) throw new UsageError(`--at: expected epoch milliseconds, got "${v.at}"`);
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  const data = Buffer.concat(chunks);
  if (data.length !== width * height * 3) throw new UsageError(`stdin: expected ${width * height * 3} bytes of RGB24 for ${width}x${height}, got ${data.length}`);
  return runEgress(v, (ctx) => saveStill(ctx, {
    camera: v.camera!, frame: { width, height, data }, atMs, out: v.out!, requester: v.requester ?? requesterDefault(), reason: v.reason ?? 'still command',
  }));
}

/** Stills from stdin until it closes; a bad one is answered and the next one read. */
async function batch(ctx: EgressContext): Promise<void> {
  const input = process.stdin;
  let buf = Buffer.alloc(0);
  let ended = false;
  let wake: (() => void) | undefined;
  input.on('data', (d: Buffer) => { buf = Buffer.concat([buf, d]); wake?.(); });
  input.on('end', () => { ended = true; wake?.(); });
  const need = async (test: () => boolean) => { while (!test() && !ended) await new Promise<void>((r) => { wake = r; }); return test(); };
  for (;;) {
    if (!(await need(() => buf.includes(10)))) break;
    const nl = buf.indexOf(10);
    const line = buf.subarray(0, nl).toString();
    buf = buf.subarray(nl + 1);
    let h: StillHeader;
    try {
      h = JSON.parse(line) as StillHeader;
    } catch {
      process.stdout.write(JSON.stringify({ ok: false, error: 'not a JSON header line' }) + '\n');
      continue;
    }
    const size = h.width * h.height * 3;
    if (!(await need(() => buf.length >= size))) break;
    const data = Buffer.from(buf.subarray(0, size));
    buf = buf.subarray(size);
    try {
      const r = await saveStill(ctx, { camera: h.camera, frame: { width: h.width, height: h.height, data }, atMs: h.at_ms, out: h.out, requester: h.requester, reason: h.reason });
      process.stdout.write(JSON.stringify({ ok: true, out: r.out, sha256: r.sha256 }) + '\n');
    } catch (err) {
      process.stdout.write(JSON.stringify({ ok: false, out: h.out, error: (err as Error).message }) + '\n');
    }
  }
}
