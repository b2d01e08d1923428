/**
 * A small ONVIF camera for tests (a fixture: it does not ship): SOAP 1.2 over HTTP with a real
 * WS-Security UsernameToken (PasswordDigest) check, and WS-Discovery over UDP. It answers what a
 * recorder needs (GetSystemDateAndTime with a configurable clock offset, GetDeviceInformation,
 * GetCapabilities, GetProfiles, GetVideoSources, GetStreamUri), a PullPoint event service
 * (CreatePullPointSubscription, PullMessages, Renew, Unsubscribe: `emitEvent` raises one) and
 * nothing else (a SOAP fault, which the `onvif` package takes as "not supported", e.g. for
 * GetServices). `replaceDevice` makes another device answer at the same address.
 *
 * With `media2`, it also answers GetServices (device, media, events and Media2) and offers
 * Media2 privacy masks (GetServiceCapabilities with `Mask`, GetMaskOptions, GetMasks,
 * CreateMask, SetMask, DeleteMask; other Media2 requests fault, so the `onvif` package keeps to
 * Media1 for profiles). `reboot()` loses the masks, as a camera that does not keep them across a
 * restart. With `maskSvgFile`, the masks are written there as an SVG whenever they change: the
 * RTSP simulator's `--mask-svg` paints them, a camera that masks on board.
 *
 * No such simulator exists in npm or Debian; this one speaks real ONVIF XML to the `onvif` npm
 * package, so the daemon's code path is the one a real camera takes.
 */
import { randomUUID } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { passwordDigest } from '../../recorder/sources/ws-security.js';
import { maskSvg } from '../../recorder/capture-masks.js';
import { parseMasks, toOnvifPoint, type CameraMask } from '../../recorder/sources/onvif-masks.js';

export interface OnvifResponderOptions {
  /** HTTP host to bind and to put in XAddrs (default 127.0.0.1) */
  host?: string;
  /** HTTP port (0 = any) */
  port?: number;
  username?: string;
  password?: string;
  /** the RTSP URL GetStreamUri returns; may be changed while running (`streamUri`) */
  streamUri: string;
  /** camera clock minus true time, in ms */
  clockOffsetMs?: number;
  manufacturer?: string;
  model?: string;
  serial?: string;
  /** WS-Discovery UDP port to listen on (unicast, on `host`); omitted: no discovery */
  discoveryPort?: number;
  /** also join the WS-Discovery multicast group on `host`'s interface (only inside a test
   * network namespace: never on a real network) */
  multicast?: boolean;
  width?: number;
  height?: number;
  fps?: number;
  bitrateKbps?: number;
  /** offer the event service (default true) */
  events?: boolean;
  /** offer Media2 with privacy masks (answers GetServices) */
  media2?: boolean;
  /** where the masks are written as an SVG when they change (the RTSP simulator's --mask-svg) */
  maskSvgFile?: string;
  /** GetMaskOptions: at most this many masks (default 8) */
  maxMasks?: number;
  /** GetMaskOptions: rectangles only */
  rectangleOnly?: boolean;
}

interface Subscription { queue: string[]; wake?: () => void }

const NS = 'xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:tds="http://www.onvif.org/ver10/device/wsdl" '
  + 'xmlns:trt="http://www.onvif.org/ver10/media/wsdl" xmlns:tt="http://www.onvif.org/ver10/schema"';

const envelope = (body: string) => `<?xml version="1.0" encoding="UTF-8"?><s:Envelope ${NS}><s:Body>${body}</s:Body></s:Envelope>`;

function fault(code: string, subcode: string, reason: string): string {
  return envelope(`<s:Fault><s:Code><s:Value>s:${code}</s:Value><s:Subcode><s:Value>ter:${subcode}</s:Value></s:Subcode></s:Code>`
    + `<s:Reason><s:Text xml:lang="en">${reason}</s:Text></s:Reason></s:Fault>`);
}

const tag = (xml: string, name: string) => new RegExp(`<(?:\\w+:)?${name}\\b[^>]*>([^<]*)</(?:\\w+:)?${name}>`).exec(xml)?.[1];
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export class OnvifResponder {
  private http?: Server;
  private udp?: Socket;
  readonly uuid = randomUUID();
  port = 0;
  discoveryPort = 0;
  streamUri: string;
  clockOffsetMs: number;
  /** request actions received, for assertions */
  readonly requests: string[] = [];
  serial: string;
  private readonly subscriptions = new Map<string, Subscription>();
  /** each event topic's current state, sent to a new subscriber as "Initialized" */
  private readonly eventState = new Map<string, boolean>();
  /** the actions of requests that carried a WS-Security UsernameToken (credentials) */
  readonly credentialed: string[] = [];
  /** the privacy masks the camera holds (Media2), by token */
  readonly masks = new Map<string, CameraMask>();
  private maskSeq = 0;

  constructor(readonly opts: OnvifResponderOptions) {
    this.streamUri = opts.streamUri;
    this.clockOffsetMs = opts.clockOffsetMs ?? 0;
    this.serial = opts.serial ?? this.uuid.slice(0, 8);
    this.masksChanged();
  }

  get host(): string {
    return this.opts.host ?? '127.0.0.1';
  }

  /** host:port, as the config's `source.host` takes it */
  get address(): string {
    return `${this.host}:${this.port}`;
  }

  get xaddr(): string {
    return `http://${this.address}/onvif/device_service`;
  }

  async start(): Promise<this> {
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => { body += String(d); });
      req.on('end', () => {
        void this.respond(req.url ?? '', body).then(({ status, xml }) => {
          res.writeHead(status, { 'Content-Type': 'application/soap+xml; charset=utf-8' });
          res.end(xml);
        });
      });
    });
    this.http = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port ?? 0, this.host, () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    if (this.opts.discoveryPort !== undefined) await this.startDiscovery(this.opts.discoveryPort);
    return this;
  }

  async stop(): Promise<void> {
    this.dropSubscriptions();
    this.udp?.close();
    this.udp = undefined;
    const http = this.http;
    this.http = undefined;
    if (http) {
      http.closeAllConnections();
      await new Promise((r) => http.close(r));
    }
  }

  private action(body: string): string {
    const m = /<(?:\w+:)?Body\b[^>]*>\s*<(?:(\w+):)?(\w+)/.exec(body);
    return m?.[2] ?? '';
  }

  /** The UsernameToken check: right user, right digest, Created within 5 minutes of our clock. */
  private authorized(body: string): boolean {
    if (!this.opts.username) return true;
    const user = tag(body, 'Username');
    const digest = tag(body, 'Password');
    const nonce = tag(body, 'Nonce');
    const created = tag(body, 'Created');
    if (!user || !digest || !nonce || !created) return false;
    if (user !== this.opts.username) return false;
    if (passwordDigest(nonce, created, this.opts.password ?? '') !== digest) return false;
    const skew = Math.abs(Date.parse(created) - (Date.now() + this.clockOffsetMs));
    return Number.isFinite(skew) && skew < 5 * 60_000;
  }

  handle(body: string): { status: number; xml: string } {
    const action = this.action(body);
    this.requests.push(action);
    if (/<(?:\w+:)?UsernameToken\b/.test(body)) this.credentialed.push(action);
    if (action === 'GetSystemDateAndTime') return { status: 200, xml: envelope(this.dateTime()) };
    if (!this.authorized(body)) {
      return { status: 400, xml: fault('Sender', 'NotAuthorized', 'Sender not Authorized') };
    }
    const o = this.opts;
    const w = o.width ?? 640, h = o.height ?? 360, fps = o.fps ?? 15, kbps = o.bitrateKbps ?? 1000;
    switch (action) {
      case 'GetDeviceInformation':
        return { status: 200, xml: envelope(`<tds:GetDeviceInformationResponse><tds:Manufacturer>${esc(o.manufacturer ?? 'edge-nvr')}</tds:Manufacturer>`
          + `<tds:Model>${esc(o.model ?? 'onvif-responder')}</tds:Model><tds:FirmwareVersion>1.0.0</tds:FirmwareVersion>`
          + `<tds:SerialNumber>${esc(this.serial)}</tds:SerialNumber><tds:HardwareId>sim</tds:HardwareId></tds:GetDeviceInformationResponse>`) };
      case 'GetCapabilities':
        return { status: 200, xml: envelope(`<tds:GetCapabilitiesResponse><tds:Capabilities>`
          + `<tt:Device><tt:XAddr>${this.xaddr}</tt:XAddr></tt:Device>`
          + `<tt:Media><tt:XAddr>http://${this.address}/onvif/media_service</tt:XAddr><tt:StreamingCapabilities><tt:RTPMulticast>false</tt:RTPMulticast>`
          + `<tt:RTP_TCP>true</tt:RTP_TCP><tt:RTP_RTSP_TCP>true</tt:RTP_RTSP_TCP></tt:StreamingCapabilities></tt:Media>`
          + (o.events === false ? '' : `<tt:Events><tt:XAddr>http://${this.address}/onvif/events_service</tt:XAddr>`
            + `<tt:WSSubscriptionPolicySupport>false</tt:WSSubscriptionPolicySupport><tt:WSPullPointSupport>true</tt:WSPullPointSupport></tt:Events>`)
          + `</tds:Capabilities></tds:GetCapabilitiesResponse>`) };
      case 'GetServices': {
        if (!o.media2) return { status: 400, xml: fault('Receiver', 'ActionNotSupported', 'GetServices not supported') };
        const service = (ns: string, path: string) => `<tds:Service><tds:Namespace>${ns}</tds:Namespace><tds:XAddr>http://${this.address}/onvif/${path}</tds:XAddr>`
          + '<tds:Version><tt:Major>2</tt:Major><tt:Minor>60</tt:Minor></tds:Version></tds:Service>';
        return { status: 200, xml: envelope('<tds:GetServicesResponse>' + service('http://www.onvif.org/ver10/device/wsdl', 'device_service')
          + service('http://www.onvif.org/ver10/media/wsdl', 'media_service')
          + (o.events === false ? '' : service('http://www.onvif.org/ver10/events/wsdl', 'events_service'))
          + service('http://www.onvif.org/ver20/media/wsdl', 'media2_service') + '</tds:GetServicesResponse>') };
      }
      case 'GetVideoSources':
        return { status: 200, xml: envelope(`<trt:GetVideoSourcesResponse><trt:VideoSources token="vs1"><tt:Framerate>${fps}</tt:Framerate>`
          + `<tt:Resolution><tt:Width>${w}</tt:Width><tt:Height>${h}</tt:Height></tt:Resolution></trt:VideoSources></trt:GetVideoSourcesResponse>`) };
      case 'GetProfiles':
        return { status: 200, xml: envelope(`<trt:GetProfilesResponse>${this.profile('main', w, h, fps, kbps)}</trt:GetProfilesResponse>`) };
      case 'GetStreamUri': {
        const token = tag(body, 'ProfileToken');
        if (token && token !== 'main') return { status: 400, xml: fault('Sender', 'NoProfile', `no profile ${esc(token)}`) };
        return { status: 200, xml: envelope(`<trt:GetStreamUriResponse><trt:MediaUri><tt:Uri>${esc(this.streamUri)}</tt:Uri>`
          + `<tt:InvalidAfterConnect>false</tt:InvalidAfterConnect><tt:InvalidAfterReboot>false</tt:InvalidAfterReboot>`
          + `<tt:Timeout>PT0S</tt:Timeout></trt:MediaUri></trt:GetStreamUriResponse>`) };
      }
      default:
        return { status: 400, xml: fault('Receiver', 'ActionNotSupported', `${esc(action || 'request')} not supported`) };
    }
  }

  private profile(token: string, w: number, h: number, fps: number, kbps: number): string {
    return `<trt:Profiles token="${token}" fixed="true"><tt:Name>${token}</tt:Name>`
      + `<tt:VideoSourceConfiguration token="vsc1"><tt:Name>vsc1</tt:Name><tt:UseCount>1</tt:UseCount><tt:SourceToken>vs1</tt:SourceToken>`
      + `<tt:Bounds x="0" y="0" width="${w}" height="${h}"/></tt:VideoSourceConfiguration>`
      + `<tt:VideoEncoderConfiguration token="vec1"><tt:Name>vec1</tt:Name><tt:UseCount>1</tt:UseCount><tt:Encoding>H264</tt:Encoding>`
      + `<tt:Resolution><tt:Width>${w}</tt:Width><tt:Height>${h}</tt:Height></tt:Resolution><tt:Quality>5</tt:Quality>`
      + `<tt:RateControl><tt:FrameRateLimit>${fps}</tt:FrameRateLimit><tt:EncodingInterval>1</tt:EncodingInterval><tt:BitrateLimit>${kbps}</tt:BitrateLimit></tt:RateControl>`
      + `<tt:H264><tt:GovLength>${fps * 2}</tt:GovLength><tt:H264Profile>Main</tt:H264Profile></tt:H264>`
      + `<tt:SessionTimeout>PT60S</tt:SessionTimeout></tt:VideoEncoderConfiguration></trt:Profiles>`;
  }

  /* ------------------------------------------------------------------ events (PullPoint) */

  /** Requests to the event service and to subscriptions; everything else goes to `handle`. */
  private async respond(path: string, body: string): Promise<{ status: number; xml: string }> {
    if (path === '/onvif/media2_service' && this.opts.media2) return this.media2(body);
    const sub = /^\/onvif\/subscription\/([\w-]+)$/.exec(path);
    if (!sub && path !== '/onvif/events_service') return this.handle(body);
    const action = this.action(body);
    this.requests.push(action);
    if (!this.authorized(body)) return { status: 400, xml: fault('Sender', 'NotAuthorized', 'Sender not Authorized') };
    if (!sub) {
      if (action !== 'CreatePullPointSubscription' || this.opts.events === false) return { status: 400, xml: fault('Receiver', 'ActionNotSupported', `${esc(action)} not supported`) };
      const id = randomUUID();
      const initial = [...this.eventState].map(([topic, state]) => this.notification(topic, state, 'Initialized'));
      this.subscriptions.set(id, { queue: initial });
      return { status: 200, xml: envelope(`<tev:CreatePullPointSubscriptionResponse xmlns:tev="http://www.onvif.org/ver10/events/wsdl" xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" xmlns:wsa="http://www.w3.org/2005/08/addressing">`
        + `<tev:SubscriptionReference><wsa:Address>http://${this.address}/onvif/subscription/${id}</wsa:Address></tev:SubscriptionReference>`
        + `<wsnt:CurrentTime>${this.now()}</wsnt:CurrentTime><wsnt:TerminationTime>${this.now(120_000)}</wsnt:TerminationTime></tev:CreatePullPointSubscriptionResponse>`) };
    }
    const s = this.subscriptions.get(sub[1]!);
    if (!s) return { status: 400, xml: fault('Receiver', 'ResourceUnknown', 'no such subscription') };
    switch (action) {
      case 'PullMessages': {
        const seconds = Number(/PT(\d+(?:\.\d+)?)S/.exec(tag(body, 'Timeout') ?? '')?.[1] ?? 10);
        // woken early (an event, stop), the timer goes too: left running it kept a finished test's process alive up to the pull timeout
        if (!s.queue.length) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, Math.min(seconds, 60) * 1000);
            s.wake = () => { clearTimeout(timer); resolve(); };
          });
        }
        s.wake = undefined;
        if (!this.subscriptions.has(sub[1]!)) return { status: 400, xml: fault('Receiver', 'ResourceUnknown', 'no such subscription') };
        const messages = s.queue.splice(0);
        return { status: 200, xml: envelope(`<tev:PullMessagesResponse xmlns:tev="http://www.onvif.org/ver10/events/wsdl" xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2">`
          + `<tev:CurrentTime>${this.now()}</tev:CurrentTime><tev:TerminationTime>${this.now(120_000)}</tev:TerminationTime>${messages.join('')}</tev:PullMessagesResponse>`) };
      }
      case 'Renew':
        return { status: 200, xml: envelope(`<wsnt:RenewResponse xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2"><wsnt:TerminationTime>${this.now(120_000)}</wsnt:TerminationTime>`
          + `<wsnt:CurrentTime>${this.now()}</wsnt:CurrentTime></wsnt:RenewResponse>`) };
      case 'Unsubscribe':
        this.subscriptions.delete(sub[1]!);
        s.wake?.();
        return { status: 200, xml: envelope('<wsnt:UnsubscribeResponse xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2"/>') };
      default:
        return { status: 400, xml: fault('Receiver', 'ActionNotSupported', `${esc(action)} not supported`) };
    }
  }

  /* ------------------------------------------------------------------ Media2 privacy masks */

  private media2(body: string): { status: number; xml: string } {
    const action = this.action(body);
    this.requests.push(action);
    if (/<(?:\w+:)?UsernameToken\b/.test(body)) this.credentialed.push(action);
    if (!this.authorized(body)) return { status: 400, xml: fault('Sender', 'NotAuthorized', 'Sender not Authorized') };
    const tr2 = (inner: string) => envelope(`<tr2:${action}Response xmlns:tr2="http://www.onvif.org/ver20/media/wsdl">${inner}</tr2:${action}Response>`);
    switch (action) {
      case 'GetServiceCapabilities':
        return { status: 200, xml: tr2('<tr2:Capabilities SnapshotUri="false" Rotation="false" VideoSourceMode="false" OSD="false" TemporaryOSDText="false" Mask="true" SourceMask="false">'
          + '<tr2:ProfileCapabilities MaximumNumberOfProfiles="1"/><tr2:StreamingCapabilities RTSPStreaming="true" RTPMulticast="false" RTP_RTSP_TCP="true"/></tr2:Capabilities>') };
      case 'GetMaskOptions':
        return { status: 200, xml: tr2(`<tr2:Options RectangleOnly="${this.opts.rectangleOnly === true}" SingleColorOnly="false"><tr2:MaxMasks>${this.opts.maxMasks ?? 8}</tr2:MaxMasks>`
          + '<tr2:MaxPoints>16</tr2:MaxPoints><tr2:Types>Color</tr2:Types><tr2:Types>Pixelated</tr2:Types></tr2:Options>') };
      case 'GetMasks': {
        const token = tag(body, 'Token');
        const config = tag(body, 'ConfigurationToken');
        const list = [...this.masks.values()].filter((m) => (!token || m.token === token) && (!config || m.configurationToken === config));
        return { status: 200, xml: tr2(list.map((m) => this.maskElement(m)).join('')) };
      }
      case 'CreateMask': {
        const [m] = parseMasks(body, 'Mask');
        if (!m || m.points.length < 3) return { status: 400, xml: fault('Sender', 'InvalidArgVal', 'a mask needs a polygon of 3 points or more') };
        if (m.configurationToken !== 'vsc1') return { status: 400, xml: fault('Sender', 'NoConfig', `no configuration ${esc(m.configurationToken)}`) };
        if (this.masks.size >= (this.opts.maxMasks ?? 8)) return { status: 400, xml: fault('Receiver', 'MaxMasks', 'no room for another mask') };
        const token = `mask${++this.maskSeq}`;
        this.masks.set(token, { ...m, token });
        this.masksChanged();
        return { status: 200, xml: tr2(`<tr2:Token>${token}</tr2:Token>`) };
      }
      case 'SetMask': {
        const [m] = parseMasks(body, 'Mask');
        if (!m || !this.masks.has(m.token)) return { status: 400, xml: fault('Sender', 'NoConfig', 'no such mask') };
        this.masks.set(m.token, m);
        this.masksChanged();
        return { status: 200, xml: tr2('') };
      }
      case 'DeleteMask': {
        if (!this.masks.delete(tag(body, 'Token') ?? '')) return { status: 400, xml: fault('Sender', 'NoConfig', 'no such mask') };
        this.masksChanged();
        return { status: 200, xml: tr2('') };
      }
      default:
        return { status: 400, xml: fault('Receiver', 'ActionNotSupported', `${esc(action || 'request')} not supported`) };
    }
  }

  private maskElement(m: CameraMask): string {
    const pts = m.points.map((p) => toOnvifPoint(p)).map(([x, y]) => `<tt:Point x="${x}" y="${y}"/>`).join('');
    return `<tr2:Masks token="${esc(m.token)}"><tr2:ConfigurationToken>${esc(m.configurationToken)}</tr2:ConfigurationToken><tr2:Polygon>${pts}</tr2:Polygon>`
      + `<tr2:Type>${esc(m.type)}</tr2:Type><tr2:Color X="16" Y="128" Z="128"/><tr2:Enabled>${m.enabled}</tr2:Enabled></tr2:Masks>`;
  }

  /** The picture follows the masks: the enabled ones are written for the RTSP simulator to paint. */
  private masksChanged(): void {
    if (!this.opts.maskSvgFile) return;
    const shown = [...this.masks.values()].filter((m) => m.enabled && m.type !== 'None').map((m) => ({ points: m.points }));
    writeFileSync(this.opts.maskSvgFile, shown.length ? maskSvg(shown) : '');
  }

  /** The camera restarts and comes back without its masks (and without its event subscriptions). */
  reboot(): void {
    this.masks.clear();
    this.masksChanged();
    this.dropSubscriptions();
  }

  /** Someone removes one mask on the camera (its web page): the first one. */
  removeMask(): void {
    const first = [...this.masks.keys()][0];
    if (first) this.masks.delete(first);
    this.masksChanged();
  }

  /** The camera raises (or clears) an event, e.g. `tns1:VideoSource/GlobalSceneChange/ImagingService`. */
  emitEvent(topic: string, state: boolean): void {
    this.eventState.set(topic, state);
    for (const s of this.subscriptions.values()) {
      s.queue.push(this.notification(topic, state, 'Changed'));
      s.wake?.();
    }
  }

  /** Another device answers at this address from now on: a new serial number, and the old one's subscriptions are gone. */
  replaceDevice(serial: string): void {
    this.serial = serial;
    this.eventState.clear();
    this.dropSubscriptions();
  }

  private dropSubscriptions(): void {
    const subs = [...this.subscriptions.values()];
    this.subscriptions.clear();
    for (const s of subs) s.wake?.();
  }

  private notification(topic: string, state: boolean, operation: 'Initialized' | 'Changed'): string {
    return `<wsnt:NotificationMessage><wsnt:Topic Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet" xmlns:tns1="http://www.onvif.org/ver10/topics">${esc(topic)}</wsnt:Topic>`
      + `<wsnt:Message><tt:Message UtcTime="${this.now()}" PropertyOperation="${operation}"><tt:Source><tt:SimpleItem Name="Source" Value="vs1"/></tt:Source>`
      + `<tt:Data><tt:SimpleItem Name="State" Value="${state}"/></tt:Data></tt:Message></wsnt:Message></wsnt:NotificationMessage>`;
  }

  private now(plusMs = 0): string {
    return new Date(Date.now() + this.clockOffsetMs + plusMs).toISOString().replace(/\.\d+Z$/, 'Z');
  }

  private dateTime(): string {
    const d = new Date(Date.now() + this.clockOffsetMs);
    return `<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:DateTimeType>NTP</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings>`
      + `<tt:TimeZone><tt:TZ>UTC0</tt:TZ></tt:TimeZone><tt:UTCDateTime><tt:Time><tt:Hour>${d.getUTCHours()}</tt:Hour><tt:Minute>${d.getUTCMinutes()}</tt:Minute>`
      + `<tt:Second>${d.getUTCSeconds()}</tt:Second></tt:Time><tt:Date><tt:Year>${d.getUTCFullYear()}</tt:Year><tt:Month>${d.getUTCMonth() + 1}</tt:Month>`
      + `<tt:Day>${d.getUTCDate()}</tt:Day></tt:Date></tt:UTCDateTime></tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>`;
  }

  /** WS-Discovery: answers a Probe for NetworkVideoTransmitter with a unicast ProbeMatch. */
  private async startDiscovery(port: number): Promise<void> {
    const udp = createSocket({ type: 'udp4', reuseAddr: true });
    this.udp = udp;
    udp.on('message', (msg, rinfo) => {
      const text = String(msg);
      if (!/Probe\b/.test(text) || /ProbeMatch/.test(text)) return;
      const relatesTo = tag(text, 'MessageID') ?? '';
      const reply = `<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" `
        + `xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" `
        + `xmlns:dn="http://www.onvif.org/ver10/network/wsdl"><s:Header>`
        + `<a:MessageID>urn:uuid:${randomUUID()}</a:MessageID><a:RelatesTo>${esc(relatesTo)}</a:RelatesTo>`
        + `<a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To>`
        + `<a:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches</a:Action></s:Header><s:Body><d:ProbeMatches><d:ProbeMatch>`
        + `<a:EndpointReference><a:Address>urn:uuid:${this.uuid}</a:Address></a:EndpointReference><d:Types>dn:NetworkVideoTransmitter</d:Types>`
        + `<d:Scopes>onvif://www.onvif.org/type/video_encoder onvif://www.onvif.org/name/${encodeURIComponent(this.opts.model ?? 'onvif-responder')}</d:Scopes>`
        + `<d:XAddrs>${this.xaddr}</d:XAddrs><d:MetadataVersion>1</d:MetadataVersion></d:ProbeMatch></d:ProbeMatches></s:Body></s:Envelope>`;
      udp.send(reply, rinfo.port, rinfo.address);
    });
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(port, this.opts.multicast ? '0.0.0.0' : this.host, () => resolve());
    });
    if (this.opts.multicast) udp.addMembership('239.255.255.250', this.host);
    this.discoveryPort = udp.address().port;
  }
}
