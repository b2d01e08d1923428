/**
 * `edge-nvr discover`: WS-Discovery on the local network, then for each camera its device
 * information, profiles, stream URIs and clock drift (ONVIF), as a table or as a ready
 * `cameras:` config snippet (--yaml). Credentials are never printed (the snippet names the
 * password file), and they go only to the cameras the installer names with --host: anything on
 * the network can answer a WS-Discovery probe, and none of it gets them unasked.
 */
import { resolve } from 'node:path';
import { readSecret } from '../../config/load.js';
import { printable } from '../../common/human.js';
import { CAMERA_HOST } from '../../config/listen.js';
import { clockDrifts, discover, inspectCamera, MAX_DISCOVERED, streamUriProblem, type OnvifCameraInfo } from '../../recorder/sources/onvif.js';
import { EXIT, parseCommand, parseNumber, UsageError, print, printError, printJson } from '../args.js';

const spec = {
  name: 'discover',
  summary: 'Find ONVIF cameras (WS-Discovery), read their profiles, stream URIs and clocks. Exit 0 found and read at least one, 1 none.',
  usage: 'discover [--user U --password-file F --host HOST...] [--interface IF] [--timeout S] [--target HOST:PORT] [--yaml [--segment-seconds S] | --json]',
  options: {
    user: { type: 'string' }, 'password-file': { type: 'string' }, host: { type: 'string', multiple: true }, interface: { type: 'string' }, timeout: { type: 'string' },
    target: { type: 'string', multiple: true }, 'segment-seconds': { type: 'string' }, yaml: { type: 'boolean' }, json: { type: 'boolean' },
  },
  help: {
    user: 'ONVIF username of the cameras',
    'password-file': 'file holding their password (named, never copied, in the --yaml snippet)',
    host: 'a camera to log in to with --user/--password-file, as discover lists it (HOST or HOST:PORT; repeatable); no other device gets the credentials',
    interface: 'network interface (eth0) or IPv4 address to probe from (default: the system\'s choice)',
    timeout: 'seconds to wait for answers (default 3, at most 600)',
    target: 'send the probe unicast to HOST:PORT instead of the multicast group (repeatable)',
    'segment-seconds': 'segment length to write into the --yaml snippet (default: none, the config default)',
    yaml: 'print a cameras: snippet for the config',
    json: 'print the cameras as JSON',
  },
} as const;

interface Found {
  xaddr: string;
  host: string;
  info?: OnvifCameraInfo;
  error?: string;
}

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommand(spec, argv);
  if (!parsed) return EXIT.ok;
  const v = parsed.values;
  // a timer holds at most 24.8 days: past it Node fired at once and said no camera answered in
  // that time (an outside probe); cameras answer a probe within seconds
  const timeoutS = parseNumber('timeout', v.timeout, { above: 0, max: 600, what: 'seconds' }) ?? 3;
  const passwordFile = v['password-file'] ? resolve(v['password-file']) : undefined;
  const picked = (v.host ?? []).map(checkHost);
  const targets = v.target?.length ? v.target.map(checkTarget) : [undefined];
  if ((v.user || passwordFile) && picked.length === 0) {
    throw new UsageError('--user and --password-file need --host HOST (repeatable): credentials go only to the cameras you name. '
      + 'Run discover without them first to list the cameras that answer.');
  }
  const password = passwordFile ? readSecret({ password_file: passwordFile }, '--password-file', 'command line') : undefined;
  const discoveries = await Promise.all(targets.map((target) => discover({ timeoutMs: timeoutS * 1000, iface: v.interface, target })));
  const ignored = discoveries.reduce((n, d) => n + d.ignored, 0);
  if (ignored) {
    printError(`edge-nvr discover: more than ${MAX_DISCOVERED} devices answered; ${ignored} further answers ignored `
      + '(a device flooding the network? probe one camera at a time with --target HOST:3702)\n');
  }
  const seen = new Set<string>();
  const found: Found[] = [];
  for (const d of discoveries.flatMap((x) => x.devices)) {
    const xaddr = d.xaddrs.find((x) => /^http:/.test(x)) ?? d.xaddrs[0]!;
    const host = new URL(xaddr).host;
    // one address is one camera to ask, however many endpoint names answer for it
    if (seen.has(d.urn) || seen.has(host)) continue;
    seen.add(d.urn).add(host);
    found.push({ xaddr, host });
  }
  // a named camera that did not answer the probe (another subnet, discovery switched off)
  for (const h of picked) if (!found.some((f) => isPicked(f.host, [h]))) found.push({ xaddr: `http://${h}/onvif/device_service`, host: h });
  await Promise.all(found.map(async (f) => {
    const login = isPicked(f.host, picked);
    try {
      f.info = await inspectCamera({ host: f.host, ...(login ? { username: v.user, password } : {}), timeoutMs: 5000 });
    } catch (err) {
      const why = (err as Error).message;
      f.error = !login && /authentication failed|no media profiles/.test(why)
        ? `ONVIF camera ${f.host}: needs credentials; to log in, run again with --host ${f.host} --user U --password-file F`
        : why;
    }
  }));
  found.sort((a, b) => a.host.localeCompare(b.host, 'en', { numeric: true }));
  if (!found.length) {
    printError(`edge-nvr discover: no ONVIF camera answered within ${timeoutS} s${v.interface ? ` on ${v.interface}` : ''}\n`);
    return EXIT.failure;
  }
  for (const f of found) if (f.error) printError(`edge-nvr discover: ${printable(f.error)}\n`);
  if (v.json) printJson(found, 2);
  else if (v.yaml) {
    const seg = v['segment-seconds'] === undefined ? undefined : Number(v['segment-seconds']);
    if (seg !== undefined && !(Number.isInteger(seg) && seg > 0)) throw new UsageError(`--segment-seconds: expected whole seconds, got "${v['segment-seconds']}"`);
    print(snippet(found, v.user, passwordFile, seg));
  }
  else print(table(found));
  // "found at least one": a device none of whose answers could be read found nothing usable
  return found.some((f) => f.info) ? EXIT.ok : EXIT.failure;
}

/**
 * A --host as the config's onvif.host is written (config/listen.ts CAMERA_HOST). One with
 * user:password@ is refused without being repeated: discover printed the pasted password in its
 * error and its table, and exited 0 (an outside probe).
 */
function checkHost(host: string): string {
  if (new RegExp(CAMERA_HOST).test(host)) return host;
  if (host.includes('@')) throw new UsageError('--host: expected HOST or HOST:PORT, without user:password@ (the value is not shown: it may hold a password); give the user with --user and the password with --password-file');
  throw new UsageError(`--host: expected HOST or HOST:PORT (a name, an IPv4 address or a bracketed IPv6 address), got ${JSON.stringify(printable(host))}`);
}

/** HOST:PORT with a port that exists: Node's "Port should be > 0 and < 65536" came out as a runtime failure. */
function checkTarget(target: string): string {
  const m = /^(.+):([^:\]]*)$/.exec(target);
  if (!m) throw new UsageError(`--target: expected HOST:PORT (192.168.1.20:3702, [fe80::1]:3702), got ${JSON.stringify(printable(target))}`);
  parseNumber('target', m[2], { integer: true, min: 1, max: 65535, what: `a port in ${JSON.stringify(printable(target))}, a whole number` });
  return target;
}

/** `found` is HOST:PORT as the camera announced it; a name without a port picks every port of that host. */
function isPicked(found: string, picked: string[]): boolean {
  const f = found.toLowerCase();
  return picked.some((p) => {
    const q = p.toLowerCase();
    return /:\d+$/.test(q) && !/^[^[]*:.*:/.test(q) ? f === q : f === q || f.replace(/:\d+$/, '') === q;
  });
}

/** Profiles whose stream URI the daemon would refuse (another host, not RTSP), as warnings. */
function streamWarnings(f: Found): string[] {
  return (f.info?.profiles ?? []).flatMap((p) => {
    const problem = p.stream_uri ? streamUriProblem(p.stream_uri, f.host) : undefined;
    return problem ? [`${f.host} profile ${p.token}: ${problem}`] : [];
  });
}

const drift = (ms: number | null | undefined) => (ms === null || ms === undefined ? '?' : `${ms >= 0 ? '+' : ''}${(ms / 1000).toFixed(0)} s`);

function table(found: Found[]): string {
  const rows = [['host', 'manufacturer / model', 'serial', 'clock drift', 'profile', 'video', 'stream URI']];
  for (const f of found) {
    if (!f.info) { rows.push([f.host, `ERROR: ${f.error}`, '', '', '', '', '']); continue; }
    const i = f.info;
    for (const [n, p] of i.profiles.entries()) {
      rows.push([
        n ? '' : f.host, n ? '' : `${i.manufacturer ?? '?'} ${i.model ?? ''}`.trim(), n ? '' : i.serial ?? '', n ? '' : drift(i.clock_drift_ms),
        p.token, `${p.encoding ?? '?'} ${p.width ?? '?'}x${p.height ?? '?'} ${p.fps ?? '?'}fps ${p.bitrate_kbps ?? '?'}kbps`, p.stream_uri ?? '',
      ]);
    }
  }
  // every cell but the heading came from a device: nothing in it may steer the terminal or break the row
  for (const r of rows) r.forEach((cell, c) => { r[c] = printable(cell); });
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const out = rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd());
  const drifting = found.filter((f) => f.info && clockDrifts(f.info.clock_drift_ms));
  for (const f of drifting) out.push(`WARNING: ${f.host}: camera clock is ${drift(f.info!.clock_drift_ms)} off this box; set it to NTP`);
  for (const w of found.flatMap(streamWarnings)) out.push(`WARNING: ${printable(w)}`);
  for (const f of found) for (const w of f.info?.warnings ?? []) out.push(`WARNING: ${printable(`${f.host}: ${w}`)}`);
  return out.join('\n') + '\n';
}

function camId(f: Found, i: number, used: Set<string>): string {
  const base = (f.info?.model ?? 'camera').toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40) || 'camera';
  let id = `${base}-${i + 1}`;
  for (let n = 2; used.has(id); n++) id = `${base}-${i + 1}-${n}`;
  used.add(id);
  return id;
}

const q = (s: string) => JSON.stringify(printable(s));

function snippet(found: Found[], user: string | undefined, passwordFile: string | undefined, segmentSeconds?: number): string {
  const lines = ['cameras:'];
  const used = new Set<string>();
  for (const [i, f] of found.entries()) {
    // a comment holding a device's newline would end there, and the rest be config the installer pastes
    if (!f.info) { lines.push(`  # ${f.host}: ${printable(f.error ?? '')}`); continue; }
    const p = f.info.profiles[0];
    lines.push(printable(`  # ${f.info.manufacturer ?? ''} ${f.info.model ?? ''} serial ${f.info.serial ?? '?'}, clock drift ${drift(f.info.clock_drift_ms)}`.trimEnd()));
    for (const w of streamWarnings(f)) lines.push(`  # WARNING: ${printable(w)}`);
    for (const w of f.info.warnings ?? []) lines.push(`  # WARNING: ${printable(`${f.host}: ${w}`)}`);
    lines.push(`  - id: ${camId(f, i, used)}`);
    lines.push('    source:', '      type: onvif', `      host: ${q(f.host)}`);
    if (user) lines.push(`      username: ${q(user)}`);
    if (passwordFile) lines.push(`      password_file: ${q(passwordFile)}`);
    if (p) lines.push(`      profile: ${q(p.token)}`);
    if (segmentSeconds) lines.push('    record:', `      segment_seconds: ${segmentSeconds}`);
  }
  return lines.join('\n') + '\n';
}
