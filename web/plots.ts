/**
 * The page's plots, drawn as inline SVG on the server: the recording timeline of a camera (on
 * record, gaps with their causes, before its oldest kept recording) and the disk's forecast
 * against the days the law requires. Each carries a text alternative for screen readers.
 */
import { days, duration, isoTime } from '../common/human.js';
import { html, type Raw } from './html.js';
import { gapTimeWithin } from '../watchdog/continuity.js';
import type { GapSpan } from './box-state.js';

/** viewBox widths: text stays legible from a phone (about 350 px) to a desktop card (about 550 px) */
const W = 500;
const FW = 400;

export interface TimelineInput {
  fromMs: number;
  toMs: number;
  /** the oldest recording kept; before it nothing is on record (null: nothing ever) */
  oldestMs: number | null;
  gaps: GapSpan[];
  /** e.g. 6 h for a day, 1 day for a week */
  tickMs: number;
  label: (ms: number) => string;
}

export function timeline(t: TimelineInput): Raw {
  const span = t.toMs - t.fromMs;
  const x = (ms: number) => Math.round(((Math.min(Math.max(ms, t.fromMs), t.toMs) - t.fromMs) / span) * W * 10) / 10;
  const start = t.oldestMs === null ? t.toMs : Math.max(t.fromMs, t.oldestMs);
  const gaps = t.gaps
    .map((g) => ({ ...g, from: Math.max(g.start_ms, start), to: Math.min(g.end_ms ?? t.toMs, t.toMs) }))
    .filter((g) => g.to > g.from);
  const gapMs = gapTimeWithin(t.gaps, start, t.toMs);
  const onRecord = Math.max(0, t.toMs - start - gapMs);
  const summary = `${Math.round((onRecord / span) * 1000) / 10}% of ${duration(span)} on record, ${gaps.length} gap${gaps.length === 1 ? '' : 's'}`;
  const ticks: number[] = [];
  for (let ms = Math.ceil(t.fromMs / t.tickMs) * t.tickMs; ms < t.toMs; ms += t.tickMs) ticks.push(ms);
  return html`<svg viewBox="0 0 ${W} 40" role="img" aria-label="${summary}" class="timeline" data-gaps="${gaps.length}">
<title>${summary}</title>
<rect x="0" y="0" width="${W}" height="24" fill="#9ca3af" opacity="0.35"><title>nothing on record</title></rect>
${start < t.toMs ? html`<rect x="${x(start)}" y="0" width="${x(t.toMs) - x(start)}" height="24" fill="#2da44e"><title>on record from ${isoTime(start)}</title></rect>` : ''}
${gaps.map((g) => html`<rect class="gap" x="${x(g.from)}" y="0" width="${Math.max(2, x(g.to) - x(g.from))}" height="24" fill="#d1242f"><title>${g.end_ms === null ? 'down since' : 'gap'} ${isoTime(g.start_ms)}${g.end_ms === null ? '' : ` for ${duration(g.end_ms - g.start_ms)}`}: ${g.cause.replace(/_/g, ' ')}</title></rect>`)}
${ticks.map((ms) => html`<line x1="${x(ms)}" x2="${x(ms)}" y1="24" y2="29" stroke="currentColor" opacity="0.5"/><text x="${x(ms)}" y="39" font-size="11" text-anchor="middle" fill="currentColor" opacity="0.7">${t.label(ms)}</text>`)}
</svg>`;
}

export interface ForecastInput {
  /** days the box holds now (the camera holding least) */
  heldDays: number;
  /** days the disk will hold at the last hour's rate; null before there is a rate */
  forecastDays: number | null;
  requiredDays: number;
}

/** Held now, what the disk will hold, and the legal minimum as a line both must reach. */
export function forecast(f: ForecastInput): Raw {
  const max = Math.max(f.heldDays, f.forecastDays ?? 0, f.requiredDays, 1) * 1.1;
  const x = (d: number) => Math.round((d / max) * FW * 10) / 10;
  const short = f.forecastDays !== null && f.forecastDays < f.requiredDays;
  const label = `held ${days(f.heldDays)}; the disk holds ${days(f.forecastDays)} at the current rate; ${days(f.requiredDays)} required`;
  return html`<svg viewBox="0 0 ${FW} 92" role="img" aria-label="${label}" class="forecast">
<title>${label}</title>
<text x="0" y="14" font-size="12" fill="currentColor">held now: ${days(f.heldDays)}</text>
<rect x="0" y="19" width="${Math.max(2, x(f.heldDays))}" height="14" fill="#0969da"/>
<text x="0" y="52" font-size="12" fill="currentColor">disk holds: ${f.forecastDays === null ? 'not known yet (no recording rate)' : `${days(f.forecastDays)} at the current rate`}</text>
${f.forecastDays === null ? '' : html`<rect class="${short ? 'short' : 'enough'}" x="0" y="57" width="${Math.max(2, x(f.forecastDays))}" height="14" fill="${short ? '#d1242f' : '#2da44e'}"/>`}
<line x1="${x(f.requiredDays)}" x2="${x(f.requiredDays)}" y1="16" y2="76" stroke="#b26a00" stroke-width="3" stroke-dasharray="6 4"/>
<text x="${x(f.requiredDays) > FW / 2 ? x(f.requiredDays) - 6 : x(f.requiredDays) + 6}" y="86" font-size="12" text-anchor="${x(f.requiredDays) > FW / 2 ? 'end' : 'start'}" fill="#b26a00">required: ${days(f.requiredDays)}</text>
</svg>`;
}

/** The data disk: used, free above the floor, the floor retention keeps free. */
export function diskBar(total: number, available: number, floor: number): Raw {
  const used = Math.max(0, total - available);
  const x = (b: number) => (total > 0 ? Math.round((b / total) * W * 10) / 10 : 0);
  return html`<svg viewBox="0 0 ${W} 16" role="img" aria-label="disk ${Math.round((used / Math.max(1, total)) * 100)}% used">
<rect x="0" y="0" width="${W}" height="16" fill="#2da44e" opacity="0.35"><title>free</title></rect>
<rect x="0" y="0" width="${x(used)}" height="16" fill="#0969da"><title>used</title></rect>
<rect x="${W - x(Math.min(floor, total))}" y="0" width="${x(Math.min(floor, total))}" height="16" fill="#b26a00" opacity="0.6"><title>floor kept free</title></rect>
</svg>`;
}
