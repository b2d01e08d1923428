/**
 * What a schema cannot say about a config: ids unique, retention not below the legal minimum
 * without a written reason, a secret given once, detector names free and their outputs
 * complete, client certificates in pairs, the status page on loopback unless it has TLS or a reason,
 * tamper detection off only with a reason. Each rule adds issues; none throws.
 */
import { legalMinimumDays } from './legal-minimum.js';
import type { Config } from './schema.js';
import { formatPath, show, type Issue, type Segment } from './issues.js';
import { isLoopback, parseListen, type ListenAddress } from './listen.js';
import { isObject, num, type Json } from './json-value.js';
import { hostKey } from '../uploads/target.js';
import { credentialsMisplaced, urlAuthority } from '../common/credentials.js';

/**
 * Rules a schema cannot say. They read the data defensively, so that they can run even when the
 * schema found problems elsewhere: an installer should see every problem in one pass.
 */
export function semanticIssues(data: unknown): Issue[] {
  if (!isObject(data)) return [];
  const issues: Issue[] = [];
  const box = isObject(data.box) ? data.box : {};
  const legal = legalMinimumDays({ box: { designated_site: box.designated_site === true } } as Config);
  const why = box.designated_site === true ? ' (box.designated_site is true)' : '';
  const storage = isObject(data.storage) ? data.storage : {};
  const boxRetention = isObject(storage.retention) ? storage.retention : {};
  const cameras = Array.isArray(data.cameras) ? data.cameras : [];

  retentionIssues(issues, ['storage', 'retention'], boxRetention, {}, legal, why);
  const seen = new Map<string, number>();
  cameras.forEach((camera, i) => {
    if (!isObject(camera)) return;
    if (typeof camera.id === 'string') {
      const first = seen.get(camera.id);
      if (first === undefined) seen.set(camera.id, i);
      else {
        issues.push({
          path: ['cameras', i, 'id'],
          text: `duplicate camera id ${show(camera.id, [])} (also cameras[${first}].id); expected an id no other camera uses`,
        });
      }
    }
    if (isObject(camera.retention)) {
      retentionIssues(issues, ['cameras', i, 'retention'], camera.retention, boxRetention, legal, why);
    }
    if (isObject(camera.source)) {
      secretIssues(issues, ['cameras', i, 'source'], camera.source);
      const src = camera.source;
      if (src.type === 'rtsp' && typeof src.url === 'string' && /^rtsps?:\/\/[^/\s]+(\/.*)?$/.test(src.url)) {
        urlIssues(issues, ['cameras', i, 'source', 'url'], src.url);
        passwordInPath(issues, ['cameras', i, 'source', 'url'], src.url);
      }
      if (src.type === 'onvif' && typeof src.host === 'string') portIssues(issues, ['cameras', i, 'source', 'host'], src.host, true);
    }
    if (camera.capture_masks_on === 'camera' && isObject(camera.source) && camera.source.type !== 'onvif') {
      // only ONVIF says what masks a camera holds; an RTSP URL alone cannot be checked
      issues.push({ path: ['cameras', i, 'capture_masks_on'], text: `"camera" needs an onvif source (this one is ${show(camera.source.type, [])}); expected "box" or "auto", or source.type onvif` });
    }
    if (isObject(camera.tamper) && camera.tamper.enabled === false && (typeof camera.tamper.reason !== 'string' || camera.tamper.reason.trim() === '')) {
      // a camera nobody watches must be a decision someone wrote down (a PTZ patrol, a lab camera)
      issues.push({ path: ['cameras', i, 'tamper', 'reason'], text: 'missing while tamper.enabled is false; expected why this camera\'s view is not watched, e.g. "PTZ patrol tour"' });
    }
  });

  const redaction = isObject(data.redaction) ? data.redaction : {};
  if (Array.isArray(redaction.detectors)) detectorIssues(issues, redaction.detectors);
  redactionOffIssues(issues, redaction);

  if (isObject(data.mqtt)) {
    const mqtt = data.mqtt;
    secretIssues(issues, ['mqtt'], mqtt);
    if (typeof mqtt.url === 'string' && /^(mqtts?|wss?|tcp|ssl):\/\//i.test(mqtt.url)) urlIssues(issues, ['mqtt', 'url'], mqtt.url);
    if (mqtt.cert_file !== undefined && mqtt.key_file === undefined) {
      issues.push({ path: ['mqtt', 'key_file'], text: 'missing while cert_file is set; expected both cert_file and key_file for a client certificate, or neither' });
    }
    if (mqtt.key_file !== undefined && mqtt.cert_file === undefined) {
      issues.push({ path: ['mqtt', 'cert_file'], text: 'missing while key_file is set; expected both cert_file and key_file for a client certificate, or neither' });
    }
    if (isObject(mqtt.commands)) commandIssues(issues, mqtt.commands);
    // health is checked every health_interval_s: a shorter refresh promised reports that never came
    if (typeof mqtt.health_refresh_s === 'number' && typeof mqtt.health_interval_s === 'number' && mqtt.health_refresh_s < mqtt.health_interval_s) {
      issues.push({ path: ['mqtt', 'health_refresh_s'], text: `${mqtt.health_refresh_s} s is less than health_interval_s (${mqtt.health_interval_s} s), how often health is checked; expected health_refresh_s >= health_interval_s` });
    }
    // the box's retained status on Home Assistant's own topics (homeassistant/status is its birth message)
    const discovery = isObject(mqtt.home_assistant) && typeof mqtt.home_assistant.discovery_prefix === 'string' ? mqtt.home_assistant.discovery_prefix : undefined;
    const prefix = typeof mqtt.topic_prefix === 'string' ? mqtt.topic_prefix : undefined;
    if (discovery !== undefined && prefix !== undefined && (prefix === discovery || prefix.startsWith(`${discovery}/`) || discovery.startsWith(`${prefix}/`))) {
      issues.push({ path: ['mqtt', 'topic_prefix'], text: `"${prefix}" overlaps home_assistant.discovery_prefix "${discovery}": the box's status, health and events would land among Home Assistant's own topics; expected topic levels of their own, e.g. edge-nvr/<box id>` });
    }
  }
  if (isObject(data.http)) httpIssues(issues, data.http);
  if (isObject(data.uploads)) uploadIssues(issues, data.uploads);
  return issues;
}

/** A bearer token goes to the host it names only: that host must be one the box may upload to. */
function uploadIssues(issues: Issue[], uploads: Json): void {
  const allowed = Array.isArray(uploads.allowed_hosts) ? uploads.allowed_hosts.filter((h): h is string => typeof h === 'string').map(hostKey) : [];
  if (Array.isArray(uploads.allowed_hosts)) {
    uploads.allowed_hosts.forEach((h, i) => {
      if (typeof h === 'string') portIssues(issues, ['uploads', 'allowed_hosts', i], h, true);
    });
  }
  const tokens = Array.isArray(uploads.bearer_tokens) ? uploads.bearer_tokens : [];
  const seen = new Map<string, number>();
  tokens.forEach((b, i) => {
    if (!isObject(b) || typeof b.host !== 'string') return;
    // only the first token of a host is ever sent: a second one is a mistake that would go unseen
    const first = seen.get(hostKey(b.host));
    if (first !== undefined) {
      issues.push({
        path: ['uploads', 'bearer_tokens', i, 'host'],
        text: `${show(b.host, [])} already has a token (uploads.bearer_tokens[${first}]); expected one token_file per host`,
      });
    } else seen.set(hostKey(b.host), i);
    if (allowed.includes(hostKey(b.host))) return;
    issues.push({
      path: ['uploads', 'bearer_tokens', i, 'host'],
      text: `${show(b.host, [])} is not in uploads.allowed_hosts; expected one of ${allowed.map((h) => JSON.stringify(h)).join(', ') || 'them'}, or add it to allowed_hosts`,
    });
  });
}

/** A URL's port, and an `@` past its host (a password typed unencoded: never echoed). */
function urlIssues(issues: Issue[], path: Segment[], url: string): void {
  if (credentialsMisplaced(url)) {
    issues.push({ path, text: 'holds an @ or a space past its host, where a password holding @, /, ?, # or a space typed unencoded ends up (its head would go to another host, its tail into logs); expected the password in password_file, or percent-encoded (%40 for @, %2F for /)' });
    return;
  }
  const before = issues.length;
  portIssues(issues, path, urlHostPort(url));
  if (issues.length > before) return;
  // what the connection will parse it with: "mqtt://[::1" passed the pattern and crashed `run`
  // (a restart loop), and a reload to it was accepted and left MQTT down (an outside probe)
  let host = '';
  try {
    host = new URL(url).hostname;
  } catch {
    // named below, without echoing the URL (it may hold a password)
  }
  if (!host) issues.push({ path, text: 'names no host a connection can be made to (nothing after "//", or an IPv6 address without its closing "]"); expected scheme://host[:port], e.g. mqtt://192.168.1.10:1883 or rtsp://[fd00::5]:554/stream' });
}

/**
 * A password in the path, query or fragment (`?user=admin&password=...`, XMeye's
 * `/user=admin&password=...&channel=1`) is no userinfo: nothing knows it is a secret, and it went
 * to `check`'s output, the log and the recorder's command line (an outside probe). Refused, the
 * value never echoed: the credentials belong in username and password_file.
 */
function passwordInPath(issues: Issue[], path: Segment[], url: string): void {
  const rest = url.replace(/^rtsps?:\/\/[^/?#]*/i, '');
  const param = /(?:^|[/?&;#])(pass(?:word|wd)?|pwd|token|auth|secret)=([^&;#/]*)/i.exec(rest);
  if (!param || param[2] === '') return;
  issues.push({ path, text: `holds a password in its path or query ("${param[1]}="): it would reach the log and the recorder's command line; give it as source.username and source.password_file instead (a camera that takes its password only in the URL is not supported)` });
}

/** `host:port` of a URL (`scheme://[user[:password]@]host[:port]/...`), its userinfo left out. */
function urlHostPort(url: string): string {
  const authority = urlAuthority(url)?.text ?? '';
  return authority.slice(authority.lastIndexOf('@') + 1);
}

/**
 * A port that no socket can have (`:0`, `:70000`, `:abc`) fails only when the box first connects,
 * as a cryptic error in the log: said here, at the setting. `hostPort` is `host[:port]` or
 * `[v6][:port]`; an empty port (`host:`) means the default one. A port that is not a number is
 * never echoed: it may be a password whose `@` or `/` cut the URL somewhere else. Where the
 * schema's pattern already wants digits (`numbersOnly`), only their range is checked here.
 */
function portIssues(issues: Issue[], path: Segment[], hostPort: string, numbersOnly = false): void {
  const port = /^(?:\[[^\]]*\]|[^:[\]]*):(.*)$/s.exec(hostPort)?.[1];
  if (port === undefined || port === '') return;
  if (!/^[0-9]+$/.test(port)) {
    if (!numbersOnly) issues.push({ path, text: 'the port is not a number; expected host:port with a port from 1 to 65535 (a password holding @, / or : belongs in password_file, or percent-encoded)' });
    return;
  }
  const n = Number(port);
  if (n >= 1 && n <= 65535) return;
  issues.push({ path, text: `port ${port.length > 12 ? port.slice(0, 9) + '...' : port} does not exist; expected a port from 1 to 65535` });
}

/**
 * A client name is whatever the sender writes in the request: MQTT does not tell the box who
 * published. Without the shared secret, allowed_clients would let anyone who can publish on the
 * broker in under any listed name.
 */
function commandIssues(issues: Issue[], commands: Json): void {
  const clients = commands.allowed_clients;
  if (Array.isArray(clients) && clients.length > 0 && commands.hmac_secret_file === undefined) {
    issues.push({
      path: ['mqtt', 'commands', 'allowed_clients'],
      text: 'set without hmac_secret_file: a client name alone proves nothing (anyone who can publish on the broker can write it); expected hmac_secret_file too (see docs/mqtt.md#commands)',
    });
  }
}

/**
 * Switching a built-in detector off lets faces or plates leave the box in the clear: like going
 * under the legal retention minimum, it is allowed only on purpose and on record.
 */
function redactionOffIssues(issues: Issue[], redaction: Json): void {
  for (const what of ['faces', 'plates'] as const) {
    const reason = redaction[`${what}_off_reason`];
    if (redaction[what] === false && !(typeof reason === 'string' && reason.trim() !== '')) {
      issues.push({
        path: ['redaction', what],
        text: `false lets ${what} leave the box in the clear; expected true, or set redaction.${what}_off_reason to record why (it is audited and written in every manifest)`,
      });
    }
  }
}

/**
 * The page and the metrics are for people and scrapers on the site, never for the whole
 * network by accident: plain HTTP binds to loopback unless the config says why it may not.
 */
function httpIssues(issues: Issue[], http: Json): void {
  const tls = http.cert_file !== undefined && http.key_file !== undefined;
  if (http.cert_file !== undefined && http.key_file === undefined) {
    issues.push({ path: ['http', 'key_file'], text: 'missing while cert_file is set; expected both cert_file and key_file for HTTPS, or neither' });
  }
  if (http.key_file !== undefined && http.cert_file === undefined) {
    issues.push({ path: ['http', 'cert_file'], text: 'missing while key_file is set; expected both cert_file and key_file for HTTPS, or neither' });
  }
  const excused = typeof http.plain_http_reason === 'string' && http.plain_http_reason.trim() !== '';
  const seen = new Map<string, string>();
  for (const key of ['listen', 'metrics_listen']) {
    if (typeof http[key] !== 'string') continue;
    let at: ListenAddress;
    try {
      at = parseListen(http[key] as string);
    } catch {
      continue; // the schema's pattern already said so
    }
    if (at.port > 65535) {
      issues.push({ path: ['http', key], text: `port ${at.port} does not exist; expected a port from 1 to 65535 (0: any free port)` });
      continue;
    }
    if (!tls && !excused && !isLoopback(at.host)) {
      issues.push({ path: ['http', key], text: `${at.host} is reachable from the network and there is no TLS; expected a loopback address (127.0.0.1), cert_file and key_file for HTTPS, or http.plain_http_reason saying why plain HTTP is acceptable here` });
    }
    const id = `${at.host}:${at.port}`;
    if (at.port !== 0 && seen.has(id)) {
      issues.push({ path: ['http', key], text: `the same address as http.${seen.get(id)}; expected another port for the metrics` });
    }
    seen.set(id, key);
  }
}

const BUILT_IN_DETECTORS = ['blazeface', 'ppocr-det'];

/** Names identify detectors in manifests and schedules; a boxes output must say where its score is. */
function detectorIssues(issues: Issue[], detectors: unknown[]): void {
  const seen = new Map<string, number>();
  detectors.forEach((d, i) => {
    if (!isObject(d)) return;
    const at: Segment[] = ['redaction', 'detectors', i];
    if (typeof d.name === 'string') {
      const first = seen.get(d.name);
      if (BUILT_IN_DETECTORS.includes(d.name)) {
        issues.push({ path: [...at, 'name'], text: `${JSON.stringify(d.name)} is a built-in detector (switch it with redaction.faces or redaction.plates); expected another name` });
      } else if (first !== undefined) {
        issues.push({ path: [...at, 'name'], text: `duplicate detector name ${JSON.stringify(d.name)} (also redaction.detectors[${first}].name); expected a name no other detector uses` });
      } else seen.set(d.name, i);
    }
    const out = isObject(d.output) ? d.output : undefined;
    if (out?.format !== 'boxes') return;
    if (out.score_at === undefined && out.classes_at === undefined) {
      issues.push({ path: [...at, 'output', 'score_at'], text: 'missing; expected the row index of the score, or classes_at for per-class scores (or both: objectness times class score)' });
    }
    if (out.labels !== undefined && out.classes_at === undefined) {
      issues.push({ path: [...at, 'output', 'labels'], text: 'set without classes_at; expected classes_at (the row index of the first class score), or label instead of labels for a one-class model' });
    }
  });
}

/**
 * The law asks for at least 30 days (90 on designated sites). Going below is sometimes right
 * (a camera on a private area, a site under another rule), but only on purpose and on record:
 * `below_legal_minimum_reason` is that record, and the only way past this check.
 */
function retentionIssues(issues: Issue[], at: Segment[], own: Json, inherited: Json, legal: number, why: string): void {
  const where = formatPath(at);
  const excused = typeof own.below_legal_minimum_reason === 'string' && own.below_legal_minimum_reason.trim() !== '';
  const fix = `expected at least ${legal}, or set ${where}.below_legal_minimum_reason to record why`;
  const min = num(own.min_days);
  const max = num(own.max_days);
  if (min !== undefined && min < legal && !excused) {
    issues.push({ path: [...at, 'min_days'], text: `${min} days is below the legal minimum of ${legal} days${why}; ${fix}` });
  }
  if (max !== undefined && max < legal && !excused) {
    issues.push({
      path: [...at, 'max_days'],
      text: `${max} days is below the legal minimum of ${legal} days${why}: recordings would be deleted too early; ${fix}`,
    });
  }
  // a camera may set only one bound; compare with what it inherits from storage.retention
  const effMin = min ?? num(inherited.min_days);
  const effMax = max ?? num(inherited.max_days);
  if (effMin !== undefined && effMax !== undefined && effMin > effMax && (min !== undefined || max !== undefined)) {
    const maxFrom = max !== undefined ? 'max_days' : 'max_days from storage.retention';
    const minFrom = min !== undefined ? '' : ' (from storage.retention)';
    issues.push({
      path: [...at, min !== undefined ? 'min_days' : 'max_days'],
      text: `min_days ${effMin}${minFrom} is more than ${maxFrom} ${effMax}; expected min_days <= max_days`,
    });
  }
}

function secretIssues(issues: Issue[], at: Segment[], holder: Json): void {
  if (holder.password !== undefined && holder.password_file !== undefined) {
    issues.push({ path: [...at, 'password'], text: 'both password and password_file are set; expected only one of them (prefer password_file)' });
  }
}

