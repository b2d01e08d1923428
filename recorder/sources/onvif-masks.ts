/**
 * Privacy masks on the camera itself, through ONVIF Media2 (ver20/media: GetServiceCapabilities
 * `Mask`, GetMaskOptions, GetMasks, CreateMask, SetMask, DeleteMask). The box never deletes or
 * changes a mask it finds on the camera (one someone set there hides something too): it creates
 * the capture masks the camera lacks, then reads them back; only masks read back count.
 *
 * Coordinates: a mask's polygon is in ONVIF's normalized frame, x and y from -1 to 1 with y up
 * ((-1, 1) the top-left corner); the config's masks are fractions of the frame with y down.
 */
import { growMask, maskCoverage, maskPolygon, type MaskShape } from '../../common/mask-geometry.js';
import { maskService, type OnvifTarget } from './onvif.js';
import { soapRequest } from './onvif-soap.js';
import { allOpeningAttrs, attr, openingAttrs, xmlElements, xmlTag } from './onvif-xml.js';

export const MEDIA2_NS = 'http://www.onvif.org/ver20/media/wsdl';
/** Solid black in the colour space ONVIF names for masks (Y 16, Cb and Cr 128). */
export const MASK_BLACK = { X: 16, Y: 128, Z: 128, Colorspace: 'http://www.onvif.org/ver10/colorspace/YCbCr' };

/** A point in fractions of the frame (y down) -> ONVIF normalized (y up). */
export const toOnvifPoint = ([x, y]: [number, number]): [number, number] => [round(2 * x - 1), round(1 - 2 * y)];
/** ONVIF normalized -> fractions of the frame. */
export const fromOnvifPoint = ([x, y]: [number, number]): [number, number] => [round((x + 1) / 2), round((1 - y) / 2)];
const round = (v: number) => Math.round(v * 1e6) / 1e6;

/** A mask as the camera holds it, its polygon in fractions of the frame. */
export interface CameraMask {
  token: string;
  configurationToken: string;
  points: Array<[number, number]>;
  type: string;
  enabled: boolean;
}

export interface MaskOptions {
  maxMasks: number | null;
  maxPoints: number | null;
  rectangleOnly: boolean;
  types: string[];
}

/** The Media2 XML of a mask's polygon, type, colour and state. */
export function maskXml(configurationToken: string, points: Array<[number, number]>, token?: string): string {
  const pts = points.map((p) => toOnvifPoint(p)).map(([x, y]) => `<tt:Point x="${x}" y="${y}"/>`).join('');
  const c = MASK_BLACK;
  return `<tr2:Mask${token ? ` token="${esc(token)}"` : ''}><tr2:ConfigurationToken>${esc(configurationToken)}</tr2:ConfigurationToken>`
    + `<tr2:Polygon>${pts}</tr2:Polygon><tr2:Type>Color</tr2:Type><tr2:Color X="${c.X}" Y="${c.Y}" Z="${c.Z}" Colorspace="${c.Colorspace}"/>`
    + '<tr2:Enabled>true</tr2:Enabled></tr2:Mask>';
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/**
 * The masks in a GetMasksResponse (elements `Masks`), or in a CreateMask/SetMask request (`Mask`).
 * Read in linear time (onvif-xml.ts): the device writes this text.
 */
export function parseMasks(xml: string, element = 'Masks'): CameraMask[] {
  const out: CameraMask[] = [];
  for (const { attrs, body } of xmlElements(xml, element)) {
    const points: Array<[number, number]> = [];
    for (const p of allOpeningAttrs(body, 'Point')) {
      const x = Number(attr(p, 'x')), y = Number(attr(p, 'y'));
      if (Number.isFinite(x) && Number.isFinite(y)) points.push(fromOnvifPoint([x, y]));
    }
    out.push({
      token: attr(attrs, 'token') ?? '', configurationToken: xmlTag(body, 'ConfigurationToken') ?? '',
      points, type: xmlTag(body, 'Type') ?? '', enabled: xmlTag(body, 'Enabled') === 'true',
    });
  }
  return out;
}

/**
 * How far (a fraction of the frame) each mask the box creates reaches beyond the configured one
 * on every side: cameras round corners to their own grid, and a mask rounded inward would leave
 * a strip of the area in the picture. 1 % covers grids of 100 steps or finer.
 */
export const MASK_MARGIN = 0.01;

/**
 * Whether the camera holds a mask: its enabled solid-colour masks, together, cover all of it
 * (`maskCoverage`): a mask rounded or moved inward by any visible amount does not count, one
 * larger does, whoever set it. The camera's masks are laid out once for every mask asked about.
 */
function cameraCoverage(onCamera: CameraMask[]): (wanted: MaskShape) => boolean {
  const solid = onCamera.filter((c) => c.enabled && c.type === 'Color' && c.points.length >= 3);
  return solid.length ? maskCoverage(solid.map((c) => ({ points: c.points }))) : () => false;
}

export function cameraHolds(wanted: MaskShape, onCamera: CameraMask[]): boolean {
  return cameraCoverage(onCamera)(wanted);
}

/** One camera's Media2 mask service, bound to the video source configuration of the recorded profile. */
export class CameraMaskService {
  private constructor(readonly target: OnvifTarget, readonly url: string, readonly configurationToken: string, private readonly driftMs: number) {}

  /**
   * Finds the camera's Media2 service and asks whether it supports privacy masks; rejects with
   * why not (no Media2, `Mask` not advertised, no video source configuration).
   */
  static async open(target: OnvifTarget & { profile?: string }): Promise<CameraMaskService> {
    const s = await maskService(target);
    if (!s.media2_url) throw new Error(`ONVIF camera ${target.host}: no Media2 service (privacy masks need ONVIF Media2)`);
    if (!s.video_source_token) throw new Error(`ONVIF camera ${target.host}: its profile has no video source configuration to mask`);
    const svc = new CameraMaskService(target, s.media2_url, s.video_source_token, s.clock_drift_ms ?? 0);
    const caps = await svc.call('GetServiceCapabilities', '');
    const capsTag = openingAttrs(caps, 'Capabilities') ?? '';
    if (!/^(true|1)$/.test(attr(capsTag, 'Mask') ?? '')) throw new Error(`ONVIF camera ${target.host}: its Media2 service does not support privacy masks (Mask capability not set)`);
    return svc;
  }

  private call(op: string, inner: string): Promise<string> {
    return soapRequest(this.target, {
      url: this.url, action: `${MEDIA2_NS}/${op}`, timeoutMs: this.target.timeoutMs ?? 5000, driftMs: this.driftMs,
      body: `<tr2:${op} xmlns:tr2="${MEDIA2_NS}" xmlns:tt="http://www.onvif.org/ver10/schema">${inner}</tr2:${op}>`,
    });
  }

  async options(): Promise<MaskOptions> {
    const xml = await this.call('GetMaskOptions', `<tr2:ConfigurationToken>${esc(this.configurationToken)}</tr2:ConfigurationToken>`);
    const opts = openingAttrs(xml, 'Options') ?? '';
    const n = (v: string | undefined) => (v === undefined || !Number.isFinite(Number(v)) ? null : Number(v));
    return {
      maxMasks: n(xmlTag(xml, 'MaxMasks')), maxPoints: n(xmlTag(xml, 'MaxPoints')),
      rectangleOnly: /^(true|1)$/.test(attr(opts, 'RectangleOnly') ?? ''),
      types: xmlElements(xml, 'Types').map((e) => e.body.trim()),
    };
  }

  /** The masks on the recorded profile's video source configuration. */
  async masks(): Promise<CameraMask[]> {
    const xml = await this.call('GetMasks', `<tr2:ConfigurationToken>${esc(this.configurationToken)}</tr2:ConfigurationToken>`);
    return parseMasks(xml).filter((m) => !m.configurationToken || m.configurationToken === this.configurationToken);
  }

  /** Creates one solid black mask, `mask` as given; the camera's token for it. */
  async create(mask: MaskShape): Promise<string> {
    const xml = await this.call('CreateMask', maskXml(this.configurationToken, maskPolygon(mask)));
    return xmlTag(xml, 'Token') ?? '';
  }
}

/** The capture masks the camera does not hold (read back), in the config's order. */
export function missingMasks(wanted: MaskShape[], onCamera: CameraMask[]): MaskShape[] {
  const holds = cameraCoverage(onCamera);
  return wanted.filter((m) => !holds(m));
}

/**
 * Makes the camera hold `wanted`: creates the masks it lacks, each grown by `MASK_MARGIN` (after
 * checking its options allow them), then reads them back. Resolves with how many it created;
 * rejects with why the camera cannot hold them (the caller falls back to the box or does not record).
 */
export async function pushMasks(svc: CameraMaskService, wanted: MaskShape[]): Promise<{ created: number }> {
  const host = svc.target.host;
  const before = await svc.masks();
  const missing = missingMasks(wanted, before);
  if (missing.length) {
    const o = await svc.options();
    if (o.types.length && !o.types.includes('Color')) throw new Error(`ONVIF camera ${host}: its masks cannot be a solid colour (types ${o.types.join(', ')})`);
    if (o.maxMasks !== null && before.length + missing.length > o.maxMasks) {
      throw new Error(`ONVIF camera ${host}: it holds at most ${o.maxMasks} masks (${before.length} there, ${missing.length} more needed)`);
    }
    for (const m of missing) {
      const pts = maskPolygon(m);
      if (o.maxPoints !== null && pts.length > o.maxPoints) throw new Error(`ONVIF camera ${host}: a mask has ${pts.length} corners, the camera takes at most ${o.maxPoints}`);
      if (o.rectangleOnly && !('w' in m)) throw new Error(`ONVIF camera ${host}: it takes rectangles only, and a capture mask is a polygon`);
    }
    for (const m of missing) await svc.create(growMask(m, MASK_MARGIN));
  }
  const after = missingMasks(wanted, await svc.masks());
  if (after.length) throw new Error(`ONVIF camera ${host}: ${after.length} of ${wanted.length} masks not read back after CreateMask`);
  return { created: missing.length };
}
