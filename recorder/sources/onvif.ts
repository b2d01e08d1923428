/**
 * ONVIF client side: WS-Discovery (our own small dgram probe, so tests can aim it at loopback
 * with a unicast target), and device information, profiles, stream URIs and clock drift through
 * the `onvif` npm package.
 */
import { randomUUID } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { networkInterfaces } from 'node:os';
import { scrubCredentials, withCredentials } from '../../common/credentials.js';
import { boundedAgent, NAMESPACE_REFUSAL } from './onvif-bounds.js';
import { foreignText } from '../../common/human.js';
import { xmlTag as tagText } from './onvif-xml.js';

export const WSD_MULTICAST = '239.255.255.250';
export const WSD_PORT = 3702;

export interface DiscoveredDevice {
  /** endpoint reference (urn:uuid:...) */
  urn: string;
  xaddrs: string[];
  scopes: string[];
  /** where the reply came from */
  from: string;
}

export interface DiscoverOptions {
  timeoutMs?: number;
  /** interface name (eth0) or IPv4 address to send from; default: the system's choice */
  iface?: string;
  /** unicast target host:port instead of the multicast group (tests: 127.0.0.1:<port>) */
  target?: string;
  /** devices kept at most (default MAX_DISCOVERED); later answers are counted in `ignored` */
  maxDevices?: number;
}

/**
 * Anything on the network may answer a probe, thousands of times: each device kept is one
 * camera to ask for its profiles, so the list stops here rather than opening thousands of
 * connections. A site with more cameras than this probes one subnet (or --target) at a time.
 */
export const MAX_DISCOVERED = 64;

export interface Discovery {
  devices: DiscoveredDevice[];
  /** answers from further devices past `maxDevices`, not kept */
  ignored: number;
}

const MAX_PROBE_MATCH_BYTES = 16 * 1024;

/** An XAddr a camera may be asked at: an http(s) URL (others, or garbage, are not a camera's). */
const usableXaddr = (x: string) => URL.canParse(x) && /^https?:$/.test(new URL(x).protocol);

function probeMessage(messageId: string): string {
  return '<?xml version="1.0" encoding="UTF-8"?>'
    + '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
    + 'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" xmlns:dn="http://www.onvif.org/ver10/network/wsdl">'
    + `<s:Header><a:MessageID>${messageId}</a:MessageID><a:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>`
    + '<a:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</a:Action></s:Header>'
    + '<s:Body><d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe></s:Body></s:Envelope>';
}

function ifaceAddress(iface: string): string {
  if (/^\d+\.\d+\.\d+\.\d+$/.test(iface)) return iface;
  const addr = networkInterfaces()[iface]?.find((a) => a.family === 'IPv4');
  if (!addr) throw new Error(`--interface ${iface}: no such interface with an IPv4 address`);
  return addr.address;
}

/** Sends one WS-Discovery Probe and collects ProbeMatches until the timeout. */
export async function discover(opts: DiscoverOptions = {}): Promise<Discovery> {
  const messageId = `urn:uuid:${randomUUID()}`;
  let host = WSD_MULTICAST, port = WSD_PORT;
  if (opts.target) {
    const m = /^(.+):(\d+)$/.exec(opts.target);
    if (!m) throw new Error(`--target: expected host:port, got "${opts.target}"`);
    host = m[1]!; port = Number(m[2]);
  }
  const bindAddress = opts.iface ? ifaceAddress(opts.iface) : undefined;
  const socket = createSocket({ type: 'udp4', reuseAddr: true });
  const found = new Map<string, DiscoveredDevice>();
  const max = opts.maxDevices ?? MAX_DISCOVERED;
  let ignored = 0;
  socket.on('message', (msg, rinfo) => {
    // a real ProbeMatch is 1-2 kB: nothing larger is worth reading (the tag search is linear
    // now, but a flood of 64 kB datagrams would still be work for nothing)
    if (msg.length > MAX_PROBE_MATCH_BYTES) return;
    const xml = String(msg);
    if (!/ProbeMatch/.test(xml)) return;
    const relates = tagText(xml, 'RelatesTo');
    if (relates && relates !== messageId) return;
    const urn = tagText(xml, 'Address') ?? `${rinfo.address}:${rinfo.port}`;
    const xaddrs = (tagText(xml, 'XAddrs') ?? '').split(/\s+/).filter(usableXaddr);
    if (!xaddrs.length) return;
    if (!found.has(urn) && found.size >= max) { ignored++; return; }
    found.set(urn, { urn, xaddrs, scopes: (tagText(xml, 'Scopes') ?? '').split(/\s+/).filter(Boolean), from: rinfo.address });
  });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, bindAddress, () => resolve());
    });
    if (!opts.target) {
      if (bindAddress) socket.setMulticastInterface(bindAddress);
      socket.setMulticastTTL(1);
    }
    const msg = Buffer.from(probeMessage(messageId));
    await new Promise<void>((resolve, reject) => socket.send(msg, port, host, (err) => (err ? reject(err) : resolve())));
    await new Promise((r) => setTimeout(r, opts.timeoutMs ?? 3000));
  } finally {
    socket.close();
  }
  return { devices: [...found.values()], ignored };
}

export interface OnvifProfile {
  token: string;
  name: string;
  encoding?: string;
  width?: number;
  height?: number;
  fps?: number;
  bitrate_kbps?: number;
  /** without credentials */
  stream_uri?: string;
}

export interface OnvifCameraInfo {
  host: string;
  manufacturer?: string;
  model?: string;
  firmware?: string;
  serial?: string;
  /** camera clock minus this box's clock, ms (second resolution) */
  clock_drift_ms: number | null;
  profiles: OnvifProfile[];
  /** what was not asked or not believed (a clock that is no date, profiles past the cap, the deadline) */
  warnings: string[];
}

interface CamLike {
  connect(cb: (err: Error | null) => void): void;
  getSystemDateAndTime(cb: (err: Error | null, date?: Date) => void): void;
  getDeviceInformation(cb: (err: Error | null, info?: Record<string, unknown>) => void): void;
  getStreamUri(opts: { protocol: string; profileToken: string }, cb: (err: Error | null, uri?: { uri: string }) => void): void;
  profiles?: ProfileXml[];
  /** the package's camera clock minus process uptime, ms: what it stamps its UsernameTokens with */
  timeShift?: number;
  /** service addresses from GetCapabilities/GetServices, by lower-case service name (`media2`: Media2, from GetServices only) */
  uri?: Record<string, { href?: string } | undefined>;
}

/** A media profile as the onvif package parses its XML: leaf values are strings (or numbers), never checked. */
interface ProfileXml {
  $?: { token?: unknown };
  name?: unknown;
  videoSourceConfiguration?: { $?: { token?: unknown } };
  videoEncoderConfiguration?: {
    encoding?: unknown;
    resolution?: { width?: unknown; height?: unknown };
    rateControl?: { frameRateLimit?: unknown; bitrateLimit?: unknown };
  };
}

export interface OnvifTarget {
  /** host or host:port */
  host: string;
  username?: string;
  password?: string;
  timeoutMs?: number;
  /** hosts besides the camera's own that its stream URI may point at (config: allowed_stream_hosts) */
  allowedStreamHosts?: string[];
}

function splitHost(host: string): { hostname: string; port: number } {
  const m = /^\[?([^\]]+?)\]?(?::(\d+))?$/.exec(host);
  return { hostname: m?.[1] ?? host, port: m?.[2] ? Number(m[2]) : 80 };
}

/** A clear one-line message naming the camera, never carrying credentials. */
function onvifError(host: string, err: unknown): Error {
  // the camera's own words (a SOAP fault's reason) end up on a terminal, in the log, the events
  // table and the ledger: cut and escaped
  const raw = (err as Error)?.message ?? String(err);
  // our own refusal (onvif-bounds.ts), handed to the package as a fault: said as ours
  if (raw.endsWith(NAMESPACE_REFUSAL)) return new Error(`ONVIF camera ${host}: ${NAMESPACE_REFUSAL}`);
  // the package reading an answer that lacks what ONVIF puts there (a body in another namespace):
  // its TypeError ("Cannot read properties of undefined (reading 'year')") told an installer nothing
  if (err instanceof TypeError) return new Error(`ONVIF camera ${host}: its answer is not the ONVIF one expected (${foreignText(raw)}); is this an ONVIF device service?`);
  const msg = foreignText(raw);
  if (/NotAuthorized|not authorized|Unauthorized|401|Digest authentication failed/i.test(msg)) {
    return new Error(`ONVIF camera ${host}: authentication failed (wrong username or password)`);
  }
  if (/ECONNREFUSED/.test(msg)) return new Error(`ONVIF camera ${host}: connection refused`);
  if (/timeout|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH/i.test(msg)) return new Error(`ONVIF camera ${host}: unreachable (${scrubCredentials(msg)})`);
  return new Error(`ONVIF camera ${host}: ${scrubCredentials(msg)}`);
}

/**
 * Camera clocks this far from the box's are no clock (a year 300000, a date that does not
 * parse): taken as unknown. A camera reset to 1970 or 2000 is still believed (it is only decades off).
 */
const ABSURD_DRIFT_MS = 100 * 365.25 * 24 * 3600 * 1000;

async function connect(t: OnvifTarget): Promise<{ cam: CamLike; drift: number | null; clockProblem?: string }> {
  const { hostname, port } = splitHost(t.host);
  // loaded on first use: a daemon without ONVIF cameras does not carry the package (about 5 MB)
  const { default: onvif } = await import('onvif');
  const Cam = (onvif as unknown as { Cam: new (o: object) => CamLike }).Cam;
  const timeout = t.timeoutMs ?? 5000;
  // the package's own timeout is an idle one, and it reads answers of any size: the agent bounds both
  const cam = new Cam({ hostname, port, username: t.username, password: t.password, timeout, agent: boundedAgent(timeout), autoconnect: false, preserveAddress: true });
  // the camera's clock first: WS-Security digests are stamped with it
  const before = Date.now();
  const camTime = await new Promise<Date | undefined>((resolve, reject) =>
    cam.getSystemDateAndTime((err, date) => (err ? reject(onvifError(t.host, err)) : resolve(date))));
  let drift = camTime ? Math.round(camTime.getTime() - (before + Date.now()) / 2) : null;
  let clockProblem: string | undefined;
  if (drift !== null && !(Math.abs(drift) <= ABSURD_DRIFT_MS)) {
    // NaN (a year past what a Date holds) or centuries off: the package would stamp its tokens
    // with 1970 (its offset NaN, then `|| 0` on top of the uptime) or that century, and the
    // camera's refusal read as "wrong username or password". The box's own clock instead
    // (a non-zero offset, so the package's connect() keeps it rather than reading the clock again).
    clockProblem = `its clock reads ${Number.isFinite(camTime!.getTime()) ? camTime!.toISOString() : 'no valid date'}; taken as unknown, requests stamped with this box's clock`;
    drift = null;
    cam.timeShift = Date.now() - process.uptime() * 1000;
  }
  await new Promise<void>((resolve, reject) => cam.connect((err) => (err ? reject(onvifError(t.host, err)) : resolve())));
  // connect() swallows media errors (auth failures among them) into an empty profile list
  if (!cam.profiles?.length) {
    await new Promise<void>((resolve, reject) => cam.getDeviceInformation((err) => (err ? reject(onvifError(t.host, err)) : resolve())));
    throw new Error(`ONVIF camera ${t.host}: no media profiles`);
  }
  return { cam, drift, clockProblem };
}

const num = (v: unknown) => (v === undefined || v === '' ? undefined : Number(v));
/** An XML leaf as text; an element that parsed into an object (attributes, children) is no text. */
/** What the device says of itself, as text a person reads: a serial or a model of megabytes went
 * whole into every `tamper.replaced` audit entry and log line (an outside probe: a fake camera
 * flipping a 1.5 MB serial grew the audit log, never deleted, by 20 MB a minute). */
const DEVICE_TEXT_MAX = 128;
const text = (v: unknown) => (typeof v === 'string' || typeof v === 'number' ? String(v).slice(0, DEVICE_TEXT_MAX) : undefined);

function profileOf(p: ProfileXml): OnvifProfile {
  const enc = p.videoEncoderConfiguration ?? {};
  return {
    token: text(p.$?.token) ?? '', name: text(p.name) ?? text(p.$?.token) ?? '',
    encoding: text(enc.encoding), width: num(enc.resolution?.width), height: num(enc.resolution?.height),
    fps: num(enc.rateControl?.frameRateLimit), bitrate_kbps: num(enc.rateControl?.bitrateLimit),
  };
}

function streamUri(cam: CamLike, host: string, token: string): Promise<string> {
  return new Promise((resolve, reject) =>
    cam.getStreamUri({ protocol: 'RTSP', profileToken: token }, (err, uri) => (err || !uri?.uri ? reject(onvifError(host, err ?? 'no stream URI')) : resolve(uri.uri))));
}

/**
 * `discover` asks each profile's stream URI in turn, each within the request timeout: a device
 * offering 30 profiles, each answered slowly, held it for over two minutes, and 2 MB of profiles
 * would for hours (an outside probe). So it lists at most this many profiles of one device, and
 * stops asking for stream URIs once the device has had `INSPECT_DEADLINE_MS`, both said in its warnings.
 */
export const MAX_INSPECTED_PROFILES = 16;
export const INSPECT_DEADLINE_MS = 30_000;

/** Device information, profiles (at most `MAX_INSPECTED_PROFILES`) with their stream URIs, and the clock drift. */
export async function inspectCamera(t: OnvifTarget, deadlineMs = INSPECT_DEADLINE_MS): Promise<OnvifCameraInfo> {
  const started = Date.now();
  const { cam, drift, clockProblem } = await connect(t);
  const warnings = clockProblem ? [clockProblem] : [];
  const info = await new Promise<Record<string, unknown>>((resolve, reject) =>
    cam.getDeviceInformation((err, i) => (err ? reject(onvifError(t.host, err)) : resolve(i ?? {}))));
  const all = cam.profiles ?? [];
  const profiles = all.slice(0, MAX_INSPECTED_PROFILES).map(profileOf);
  if (all.length > profiles.length) warnings.push(`it offers ${all.length} profiles; only the first ${profiles.length} are listed`);
  let unasked = 0;
  for (const p of profiles) {
    if (Date.now() - started >= deadlineMs) { unasked++; continue; }
    p.stream_uri = scrubCredentials(await streamUri(cam, t.host, p.token));
  }
  if (unasked) warnings.push(`stream URI not asked for ${unasked} profiles: the ${deadlineMs / 1000} s given to one camera ran out`);
  return {
    host: t.host, manufacturer: text(info.manufacturer), model: text(info.model), firmware: text(info.firmwareVersion), serial: text(info.serialNumber),
    clock_drift_ms: drift, profiles, warnings,
  };
}


/** What identifies the device behind an address: pinned when a camera is first recorded. */
export interface OnvifDevice {
  manufacturer?: string;
  model?: string;
  firmware?: string;
  serial?: string;
  hardware_id?: string;
}

export interface OnvifDeviceInfo {
  device: OnvifDevice;
  /** the event service address, null when the camera offers none */
  events_url: string | null;
  clock_drift_ms: number | null;
  /** why the camera's clock is not believed (clock_drift_ms null) */
  clock_problem?: string;
}

/** Device information, the event service's address and the clock drift. */
export async function describeDevice(t: OnvifTarget): Promise<OnvifDeviceInfo> {
  const { cam, drift, clockProblem } = await connect(t);
  const info = await new Promise<Record<string, unknown>>((resolve, reject) =>
    cam.getDeviceInformation((err, i) => (err ? reject(onvifError(t.host, err)) : resolve(i ?? {}))));
  const s = (v: unknown) => text(v) || undefined;
  return {
    device: { manufacturer: s(info.manufacturer), model: s(info.model), firmware: s(info.firmwareVersion), serial: s(info.serialNumber), hardware_id: s(info.hardwareId) },
    events_url: cam.uri?.events?.href ?? null,
    clock_drift_ms: drift,
    ...(clockProblem ? { clock_problem: clockProblem } : {}),
  };
}

/** A camera clock more than 2 s off the box's: worth a warning (its overlays and events disagree with the recordings). */
export function clockDrifts(driftMs: number | null): driftMs is number {
  return driftMs !== null && Math.abs(driftMs) > 2000;
}
export interface ResolvedOnvifStream {
  url: string;
  safeUrl: string;
  profile: string;
  clock_drift_ms: number | null;
  /** why the camera's clock is not believed (clock_drift_ms null) */
  clock_problem?: string;
}

const bareHost = (host: string) => host.toLowerCase().replace(/^\[|\]$/g, '');

/**
 * Why a stream URI from GetStreamUri must not be used, or undefined when it may. A camera's
 * answer is not trusted blindly: the credentials are folded into that URI, so it must be RTSP
 * and point at the camera's own host (or one the config allows), or a camera (or whoever
 * answers in its name) could send the recorder, and the password, anywhere.
 */
export function streamUriProblem(raw: string, cameraHost: string, allowedHosts: string[] = []): string | undefined {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return `its stream URI ${JSON.stringify(scrubCredentials(raw).slice(0, 80))} is not a URL`;
  }
  if (!/^rtsps?:$/i.test(u.protocol)) return `its stream URI is ${u.protocol}//..., not rtsp:// or rtsps://; refusing it`;
  const own = bareHost(splitHost(cameraHost).hostname);
  const host = bareHost(u.hostname);
  if (host === own || allowedHosts.some((h) => bareHost(splitHost(h).hostname) === host)) return undefined;
  return `its stream URI points at ${foreignText(host)}, not at the camera (${own}); refusing it, so that its credentials go nowhere else `
    + '(list that host in the camera\'s source.allowed_stream_hosts if the camera really streams from there)';
}

/** The RTSP URL of a profile (the first when none is named), with the credentials folded in. */
export async function resolveOnvifStream(t: OnvifTarget & { profile?: string }): Promise<ResolvedOnvifStream> {
  const { cam, drift, clockProblem } = await connect(t);
  const profiles = (cam.profiles ?? []).map(profileOf);
  const profile = t.profile ? profiles.find((p) => p.token === t.profile || p.name === t.profile) : profiles[0];
  if (!profile) throw new Error(`ONVIF camera ${t.host}: no profile "${t.profile}" (has ${foreignText(profiles.map((p) => p.token).join(', '))})`);
  const raw = await streamUri(cam, t.host, profile.token);
  const problem = streamUriProblem(raw, t.host, t.allowedStreamHosts);
  if (problem) throw new Error(`ONVIF camera ${t.host}: ${problem}`);
  // Cameras hand out URIs without credentials; where one carries its own, ours win.
  const url = t.username ? withCredentials(raw, t.username, t.password) : raw;
  return { url, safeUrl: scrubCredentials(url), profile: profile.token, clock_drift_ms: drift, ...(clockProblem ? { clock_problem: clockProblem } : {}) };
}

/** Where a camera's privacy masks are set: its Media2 service and the video source configuration of the recorded profile. */
export interface OnvifMaskService {
  /** the Media2 service address, null when the camera offers none (GetServices lists no ver20/media) */
  media2_url: string | null;
  /** the video source configuration of the profile (the first when none is named) */
  video_source_token: string | null;
  clock_drift_ms: number | null;
}

export async function maskService(t: OnvifTarget & { profile?: string }): Promise<OnvifMaskService> {
  const { cam, drift } = await connect(t);
  const raw = cam.profiles ?? [];
  const profile = t.profile ? raw.find((p) => text(p.$?.token) === t.profile || text(p.name) === t.profile) : raw[0];
  return { media2_url: cam.uri?.media2?.href ?? null, video_source_token: text(profile?.videoSourceConfiguration?.$?.token) ?? null, clock_drift_ms: drift };
}
