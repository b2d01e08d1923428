import { Catalog } from '../../recorder/catalog/catalog.js';
import { saveStill, stillSizeProblem, type EgressContext } from '../../redaction/egress.js';
import { frameBytes } from '../../redaction/frame.js';
import { EXIT, parseCommand, UsageError } from '../args.js';
import { cliActor } from '../audit-trail.js';
import { egressOptions, egressTarget, runEgress } from './egress-command.js';

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
    at: 'when it was seen, epoch ms (default now)', requester: 'on whose behalf (the audit log names the unix user running the command, and this)', reason: 'why (default "still command")',
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
  const sizeProblem = stillSizeProblem(width, height);
  if (sizeProblem) throw new UsageError(`--${sizeProblem}`);
  const atMs = v.at === undefined ? Date.now() : Number(v.at);
  if (!Number.isInteger(atMs) || atMs < 0) throw new UsageError(`--at: expected epoch milliseconds, got "${v.at}"`);
  const bytes = frameBytes(width, height);
  const chunks: Buffer[] = [];
  let got = 0;
  // stop at the first byte too many: a stream that does not end is not held in memory
  for await (const c of process.stdin) {
    got += (c as Buffer).length;
    if (got > bytes) break;
    chunks.push(c as Buffer);
  }
  if (got !== bytes) throw new UsageError(`stdin: expected ${bytes} bytes of RGB24 for ${width}x${height}, got ${got > bytes ? 'more' : got}`);
  const data = Buffer.concat(chunks);
  return runEgress(v, (ctx) => saveStill(ctx, {
    camera: v.camera!, frame: { width, height, data }, atMs, out: v.out!, requester: cliActor(v.requester), reason: v.reason ?? 'still command',
  }), { option: '--out', path: v.out!, mustExist: false });
}

/** A header line longer than this is not a header: answered, and the stream given up (it cannot be framed). */
const MAX_HEADER = 64 * 1024;

/**
 * Stills from stdin until it closes; a bad one is answered and the next one read. A header
 * whose size is bad (or that is not JSON, or too long) leaves the stream without framing: it is
 * answered, and so is every later line, until a header parses again.
 */
async function batch(ctx: EgressContext): Promise<void> {
  const answer = (r: Record<string, unknown>) => process.stdout.write(JSON.stringify(r) + '\n');
  const input = process.stdin;
  // chunks are joined once a test is met, not at each chunk: a 4K picture comes in hundreds
  let buf = Buffer.alloc(0);
  const pending: Buffer[] = [];
  let pendingBytes = 0;
  let ended = false;
  let wake: (() => void) | undefined;
  input.on('data', (d: Buffer) => { pending.push(d); pendingBytes += d.length; wake?.(); });
  input.on('end', () => { ended = true; wake?.(); });
  const need = async (test: () => boolean) => {
    while (!test() && !ended) await new Promise<void>((r) => { wake = r; });
    if (pending.length) buf = Buffer.concat([buf, ...pending.splice(0)]);
    pendingBytes = 0;
    return test();
  };
  const bytes = () => buf.length + pendingBytes;
  const hasLine = () => buf.includes(10) || pending.some((c) => c.includes(10));
  for (;;) {
    if (!(await need(() => hasLine() || bytes() > MAX_HEADER))) {
      if (buf.length) answer({ ok: false, error: 'stdin ended inside a header line' });
      break;
    }
    const nl = buf.indexOf(10);
    if (nl < 0 || nl > MAX_HEADER) {
      answer({ ok: false, error: `a header line longer than ${MAX_HEADER} bytes; the rest of stdin is not read` });
      input.destroy();
      break;
    }
    const line = buf.subarray(0, nl).toString();
    buf = buf.subarray(nl + 1);
    let h: StillHeader;
    try {
      h = JSON.parse(line) as StillHeader;
      if (h === null || typeof h !== 'object') throw new Error('not an object');
    } catch {
      answer({ ok: false, error: 'not a JSON header line' });
      continue;
    }
    const sizeProblem = stillSizeProblem(h.width, h.height);
    if (sizeProblem) {
      answer({ ok: false, out: h.out, error: `${sizeProblem}: its pixels cannot be told from the next header` });
      continue;
    }
    const size = frameBytes(h.width, h.height);
    if (!(await need(() => bytes() >= size))) {
      answer({ ok: false, out: h.out, error: `stdin ended after ${buf.length} of the ${size} bytes of its pixels` });
      break;
    }
    const data = Buffer.from(buf.subarray(0, size));
    buf = buf.subarray(size);
    try {
      const r = await saveStill(ctx, { camera: h.camera, frame: { width: h.width, height: h.height, data }, atMs: h.at_ms, out: h.out, requester: h.requester, reason: h.reason });
      answer({ ok: true, out: r.out, sha256: r.sha256 });
    } catch (err) {
      answer({ ok: false, out: h.out, error: (err as Error).message });
    }
  }
}
