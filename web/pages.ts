/**
 * The pages, rendered on the server from the box state. The overview is one fragment that the
 * page's script fetches again every few seconds; without the script the page still shows it
 * (and the browser's reload refreshes it). No page links to or embeds any original recording.
 */
import { ago, bytes, days, duration, isoTime } from '../common/human.js';
import type { EventLine, GapSpan, Health, HealthCamera, MqttLink, VerificationProgress } from './box-state.js';
import { html, type Raw } from './html.js';
import { diskBar, forecast, timeline } from './plots.js';
import type { Role } from './users.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export interface Viewer {
  user: string;
  role: Role;
  csrf: string;
}

export function layout(title: string, body: Raw, viewer?: Viewer, boxId?: string): string {
  return `<!doctype html>${html`<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin"><title>${title}</title><link rel="stylesheet" href="/app.css"></head>
<body>${viewer ? html`<header><h1>edge-nvr ${boxId ?? ''}</h1><span>${viewer.user} (${viewer.role})
<form method="post" action="/logout"><input type="hidden" name="csrf" value="${viewer.csrf}"><button type="submit">Log out</button></form></span></header>` : ''}
${body}<script src="/app.js"></script></body></html>`.html}`;
}

export function loginPage(csrf: string, message?: string, boxId?: string): string {
  return layout('edge-nvr: log in', html`<main class="login card"><h1>edge-nvr ${boxId ?? ''}</h1>
<form method="post" action="/login" autocomplete="on">
<input type="hidden" name="csrf" value="${csrf}">
${message ? html`<p class="error" role="alert">${message}</p>` : ''}
<label for="user">User</label><input id="user" name="user" autocomplete="username" required autofocus maxlength="64">
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required maxlength="1024">
<button class="primary" type="submit">Log in</button></form></main>`);
}

export interface OverviewInput {
  health: Health;
  gaps: (camera: string, fromMs: number, toMs: number) => GapSpan[];
  events: EventLine[];
  mqtt: MqttLink | null;
  holds: number;
  verification: VerificationProgress | null;
  viewer: Viewer;
  site: string | null;
  refreshS: number;
  now: number;
}

export function overviewPage(o: OverviewInput): string {
  return layout(`edge-nvr ${o.health.box}`, html`<main><div id="overview" data-refresh-s="${o.refreshS}">${overview(o)}</div></main>
<footer>edge-nvr · no original video is viewable here; snapshots are redacted, watermarked and audited</footer>`, o.viewer, o.health.box);
}

const hhmm = (ms: number) => new Date(ms).toISOString().slice(11, 16);
const weekday = (ms: number) => new Date(ms).toISOString().slice(5, 10);

/** The fragment the page reloads in place. */
export function overview(o: OverviewInput): Raw {
  const h = o.health;
  const down = h.cameras.filter((c) => c.state !== 'recording');
  const ok = h.cameras.length > 0 && down.length === 0;
  const headline = ok ? `Recording: all ${h.cameras.length} camera${h.cameras.length === 1 ? '' : 's'}`
    : h.cameras.length === 0 ? 'No camera configured' : `NOT RECORDING: ${down.map((c) => c.camera).join(', ')}`;
  return html`<div class="summary ${ok ? 'all-recording' : 'not-recording'}" id="summary" data-recording="${String(ok)}">${headline}
<small> · ${days(h.retention.min_required_days)} required · read ${isoTime(o.now)}</small></div>
<div class="grid">
${h.cameras.map((c) => camera(c, o))}
${disk(h)}
${system(h, o)}
${link(o.mqtt, h)}
${o.verification ? verification(o.verification) : ''}
${events(o.events, o.now)}
</div>`;
}

function camera(c: HealthCamera, o: OverviewInput): Raw {
  const now = o.now;
  const ret = o.health.retention.cameras.find((r) => r.camera === c.camera);
  const week = o.gaps(c.camera, now - 7 * DAY, now);
  const open = week.find((g) => g.end_ms === null);
  const held = ret?.days_held ?? 0;
  const required = ret?.min_days ?? o.health.retention.min_required_days;
  const tamper = tamperState(c, o.events);
  const stateText = c.state === 'recording' ? 'recording' : c.state === 'starting' ? 'starting' : 'NOT recording';
  return html`<section class="card camera" data-camera="${c.camera}" data-state="${c.state}">
<h2><span>${c.camera}</span><span class="state ${c.state}">${stateText}</span></h2>
<dl>
${open ? html`<dt>down since</dt><dd class="bad">${isoTime(open.start_ms)} (${ago(open.start_ms, now)}): ${open.cause.replace(/_/g, ' ')}</dd>` : ''}
<dt>last segment</dt><dd>${c.last_segment_end_ms === null ? 'none yet' : `${isoTime(c.last_segment_end_ms)} (${ago(c.last_segment_end_ms, now)})`}</dd>
<dt>days held</dt><dd class="${held >= required ? 'ok' : 'warn'}">${days(held)} of ${days(required)} required</dd>
<dt>last 24 h</dt><dd>${Math.round(c.continuity_24h * 1000) / 10}% on record, ${c.gaps_24h} gap${c.gaps_24h === 1 ? '' : 's'} (${duration(c.gap_ms_24h)})</dd>
<dt>restarts</dt><dd>${c.restarts} since the recorder started</dd>
${c.bitrate_kbps === null ? '' : html`<dt>stream</dt><dd>${Math.round(c.bitrate_kbps)} kbit/s</dd>`}
${tamper ? html`<dt>view</dt><dd class="${tamper.bad ? 'bad' : 'ok'}">${tamper.text}</dd>` : ''}
</dl>
<div class="plot-label">last 24 h (UTC)</div>
${timeline({ fromMs: now - DAY, toMs: now, oldestMs: ret?.oldest_ms ?? null, gaps: week.filter((g) => (g.end_ms ?? now) > now - DAY), tickMs: 6 * HOUR, label: hhmm })}
<div class="plot-label">last 7 days</div>
${timeline({ fromMs: now - 7 * DAY, toMs: now, oldestMs: ret?.oldest_ms ?? null, gaps: week, tickMs: DAY, label: weekday })}
${o.viewer.role === 'manager' ? html`<form class="snap" method="post" action="/cameras/${encodeURIComponent(c.camera)}/snapshot">
<input type="hidden" name="csrf" value="${o.viewer.csrf}">
<input name="reason" placeholder="why (audited)" aria-label="reason for the snapshot" minlength="3" maxlength="200" required>
<button type="submit">Redacted snapshot</button></form>` : ''}
</section>`;
}

/**
 * What is known about the camera's view: the health reading's own view state where the build
 * watches views, else a recent tampering event; nothing when neither says anything.
 */
function tamperState(c: HealthCamera, events: EventLine[]): { text: string; bad: boolean } | undefined {
  const view = (c as HealthCamera & { view?: unknown }).view;
  if (typeof view === 'string') return { text: view.replace(/_/g, ' '), bad: view !== 'ok' };
  if (view && typeof view === 'object' && typeof (view as { state?: unknown }).state === 'string') {
    const s = (view as { state: string }).state;
    return { text: s.replace(/_/g, ' '), bad: s !== 'ok' };
  }
  const e = events.find((ev) => ev.camera === c.camera && ev.type === 'tamper_suspected');
  return e ? { text: `${e.text} (${isoTime(e.at_ms)})`, bad: true } : undefined;
}

function disk(h: Health): Raw {
  const d = h.disks[0];
  const r = h.retention;
  return html`<section class="card" id="disk"><h2>Disk and retention</h2>
${d ? html`<dl><dt>data</dt><dd>${d.path}</dd><dt>free</dt><dd>${bytes(d.available_bytes)} of ${bytes(d.total_bytes)} (floor ${bytes(d.floor_bytes)})</dd></dl>
${diskBar(d.total_bytes, d.available_bytes, d.floor_bytes)}` : ''}
<div class="plot-label">days held, the disk's forecast, and the legal minimum</div>
${forecast({ heldDays: r.days_held, forecastDays: r.forecast_days, requiredDays: r.min_required_days })}
</section>`;
}

function system(h: Health, o: OverviewInput): Raw {
  const sync = h.clock.synchronized;
  return html`<section class="card" id="system"><h2>Box</h2><dl>
${o.site ? html`<dt>site</dt><dd>${o.site}</dd>` : ''}
<dt>clock</dt><dd class="${sync === true ? 'ok' : 'bad'}">${isoTime(h.ts)} · ${sync === null ? 'sync unknown' : sync ? 'synchronised' : 'NOT synchronised'} (${h.clock.source})</dd>
<dt>temperature</dt><dd>${h.temperature_c === null ? 'no sensor' : `${h.temperature_c.toFixed(1)} °C`}${h.throttled?.now ? html` <span class="bad">throttled</span>` : ''}</dd>
<dt>up</dt><dd>box ${duration(h.uptime_s * 1000)}, recorder ${duration(h.daemon_uptime_s * 1000)}</dd>
<dt>load</dt><dd>${h.load.join(' / ')}</dd>
<dt>memory</dt><dd>${bytes(h.memory.available_bytes)} free of ${bytes(h.memory.total_bytes)}</dd>
<dt>legal holds</dt><dd>${o.holds === 0 ? 'none' : `${o.holds} active`}</dd>
<dt>chain head</dt><dd>#${h.chain_head.id} ${h.chain_head.hash.slice(0, 16)}…</dd>
</dl></section>`;
}

function link(m: MqttLink | null, h: Health): Raw {
  return html`<section class="card" id="mqtt"><h2>MQTT link</h2>${m === null ? html`<p class="muted">not configured: this box reports to no platform</p>` : html`<dl>
<dt>broker</dt><dd>${m.broker}</dd>
<dt>link</dt><dd class="${m.connected ? 'ok' : 'bad'}">${m.connected ? 'connected' : 'NOT connected'}</dd>
<dt>last health</dt><dd>${m.last_health_ms === null ? 'not yet acknowledged' : isoTime(m.last_health_ms)}</dd>
<dt>events queued</dt><dd>${h.outbox.queued}${h.outbox.dropped ? html` <span class="bad">(${h.outbox.dropped} dropped: queue full)</span>` : ''}</dd>
</dl>`}</section>`;
}

function verification(v: VerificationProgress): Raw {
  return html`<section class="card" id="verification"><h2>Background verification</h2><dl>
<dt>progress</dt><dd>${v.checked_segments} of ${v.total_segments} segments</dd>
<dt>violations</dt><dd class="${v.violations ? 'bad' : 'ok'}">${v.violations}</dd>
<dt>last full pass</dt><dd>${isoTime(v.last_pass_end_ms)}</dd></dl></section>`;
}

function events(list: EventLine[], now: number): Raw {
  return html`<section class="card" id="events"><h2>Last events</h2>${list.length === 0 ? html`<p class="muted">none</p>` : html`<table>
${list.map((e) => html`<tr data-type="${e.type}"><td title="${isoTime(e.at_ms)}">${ago(e.at_ms, now)}</td><td>${e.camera ?? 'box'}</td><td>${e.text}</td></tr>`)}
</table>`}</section>`;
}

export function snapshotPage(viewer: Viewer, boxId: string, s: { camera: string; export_id: string; sha256: string; blanked_frames: number; at_ms: number }): string {
  return layout(`snapshot ${s.camera}`, html`<main><section class="card"><h2>Redacted snapshot: ${s.camera}</h2>
<img class="snapshot" src="/snapshots/${s.export_id}.jpg" alt="redacted snapshot of ${s.camera}">
<dl><dt>taken</dt><dd>${isoTime(s.at_ms)} by ${viewer.user}</dd><dt>export id</dt><dd>${s.export_id}</dd><dt>sha256</dt><dd>${s.sha256}</dd>
${s.blanked_frames ? html`<dt>note</dt><dd class="bad">the detector failed: the image is blanked (fail closed)</dd>` : ''}</dl>
<p>Faces and plates are hidden, the image is watermarked, a signed manifest is kept with it, and the request is in the audit log.</p>
<p><a href="/">Back to the overview</a></p></section></main>`, viewer, boxId);
}

export function messagePage(title: string, message: string, viewer?: Viewer, boxId?: string): string {
  return layout(title, html`<main><section class="card"><h2>${title}</h2><p>${message}</p><p><a href="/">Back</a></p></section></main>`, viewer, boxId);
}
