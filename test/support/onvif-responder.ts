/**
 * A small ONVIF camera for tests (a fixture: it does not ship): SOAP 1.2 over HTTP with a real
 * WS-Security UsernameToken (PasswordDigest) check, and WS-Discovery over UDP. It answers what a
 * recorder needs (GetSystemDateAndTime with a configurable clock offset, GetDeviceInformation,
 * GetCapabilities, GetProfiles, GetVideoSources, GetStreamUri) and nothing else (a SOAP fault,
 * which the `onvif` package takes as "not supported", e.g. for GetServices).
 *
 * No such simulator exists in npm or Debian; this one speaks real ONVIF XML to the `onvif` npm
 * package, so the daemon's code path is the one a real camera takes.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

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
}

const NS = 'xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:tds="http://www.onvif.org/ver10/device/wsdl" '
  + 'xmlns:trt="http://www.onvif.org/ver10/media/wsdl" xmlns:tt="http://www.onvif.org/ver10/schema"';

const envelope = (body: string) => `<?xml version="1.0" encoding="UTF-8"?><s:Envelope ${NS}><s:Body>${body}</s:Body></s:Envelope>`;

function fault(code: string, subcode: string, reason: string): string {
  return envelope(`<s:Fault><s:Code><s:Value>s:${code}</s:Value><s:Subcode><s:Value>ter:${subcode}</s:Value></s:Subcode></s:Code>`
    + `<s:Reason><s:Text xml:lang="en">${reason}</s:Text></s:Reason></s:Fault>`);
}

const tag = (xml: string, name: string) => new RegExp(`<(?:\\w+:)?${name}\\b[^>]*>([^<]*)</(?:\\w+:)?${name}>`).exec(xml)?.[1];
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** WS-Security PasswordDigest = base64(sha1(nonce + created + password)) */
export function passwordDigest(nonceB64: string, created: string, password: string): string {
  return createHash('sha1').update(Buffer.concat([Buffer.from(nonceB64, 'base64'), Buffer.from(created), Buffer.from(password)])).digest('base64');
}

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
  /** the actions of requests that carried a WS-Security UsernameToken (credentials) */
  readonly credentialed: string[] = [];

  constructor(readonly opts: OnvifResponderOptions) {
    this.streamUri = opts.streamUri;
    this.clockOffsetMs = opts.clockOffsetMs ?? 0;
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
        const { status, xml } = this.handle(body);
        res.writeHead(status, { 'Content-Type': 'application/soap+xml; charset=utf-8' });
        res.end(xml);
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
          + `<tds:SerialNumber>${esc(o.serial ?? this.uuid.slice(0, 8))}</tds:SerialNumber><tds:HardwareId>sim</tds:HardwareId></tds:GetDeviceInformationResponse>`) };
      case 'GetCapabilities':
        return { status: 200, xml: envelope(`<tds:GetCapabilitiesResponse><tds:Capabilities>`
          + `<tt:Device><tt:XAddr>${this.xaddr}</tt:XAddr></tt:Device>`
          + `<tt:Media><tt:XAddr>http://${this.address}/onvif/media_service</tt:XAddr><tt:StreamingCapabilities><tt:RTPMulticast>false</tt:RTPMulticast>`
          + `<tt:RTP_TCP>true</tt:RTP_TCP><tt:RTP_RTSP_TCP>true</tt:RTP_RTSP_TCP></tt:StreamingCapabilities></tt:Media>`
          + `</tds:Capabilities></tds:GetCapabilitiesResponse>`) };
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
