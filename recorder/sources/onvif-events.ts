/**
 * The camera's own word about its view, and who it is: an ONVIF PullPoint subscription for the
 * events a camera raises when it thinks it is tampered with (tamper, global scene change, image
 * too blurry, too dark, too bright), and its device information (serial number, hardware id),
 * read at every (re)subscription and every minute.
 *
 * The SOAP for events is our own (the `onvif` package's pull loop holds a request open for a
 * minute that cannot be cancelled, which would keep a stopping daemon alive): PullMessages
 * waits at most `pullTimeoutS` and every request is aborted on stop.
 */
import type { Logger } from 'pino';
import { describeDevice, type OnvifDevice, type OnvifTarget } from './onvif.js';
import { soapRequest } from './onvif-soap.js';
import { allOpeningAttrs, attr, xmlElements, xmlTag as tag } from './onvif-xml.js';
import { sleepUnlessAborted } from '../../common/deadlines.js';

export type CameraSignal = 'tamper' | 'global_scene_change' | 'image_too_blurry' | 'image_too_dark' | 'image_too_bright';

/** Topics vendors use for these (ONVIF's tns1:VideoSource/..., Axis, Hikvision, ...), matched by name. */
const SIGNALS: Array<[RegExp, CameraSignal]> = [
  [/tamper/i, 'tamper'],
  [/GlobalSceneChange/i, 'global_scene_change'],
  [/ImageTooBlurry|TooBlurry/i, 'image_too_blurry'],
  [/ImageTooDark|TooDark/i, 'image_too_dark'],
  [/ImageTooBright|TooBright/i, 'image_too_bright'],
];

export function signalOf(topic: string): CameraSignal | null {
  for (const [re, signal] of SIGNALS) if (re.test(topic)) return signal;
  return null;
}

export interface Notification {
  topic: string;
  /** the first boolean item of its Data (State, IsTamper, ...); null when it has none */
  active: boolean | null;
  operation: string | null;
}

/** The notifications in a PullMessagesResponse, read in linear time (onvif-xml.ts): the device writes this text. */
export function parseNotifications(xml: string): Notification[] {
  const out: Notification[] = [];
  for (const { body: block } of xmlElements(xml, 'NotificationMessage')) {
    const topic = tag(block, 'Topic');
    if (!topic) continue;
    const data = xmlElements(block, 'Data', 1)[0]?.body ?? '';
    let active: boolean | null = null;
    for (const item of allOpeningAttrs(data, 'SimpleItem')) {
      const v = attr(item, 'Value')?.toLowerCase();
      if (v === 'true' || v === 'false') { active = v === 'true'; break; }
    }
    // a literal then a word: each try stops at the first character that is not one
    out.push({ topic, active, operation: /PropertyOperation="(\w+)"/.exec(block)?.[1] ?? null });
  }
  return out;
}

export interface OnvifWatchOptions {
  onDevice: (device: OnvifDevice) => void;
  onSignal: (s: { signal: CameraSignal; topic: string; active: boolean }) => void;
  log?: Logger;
  identityCheckMs?: number;
  pullTimeoutS?: number;
}

const BACKOFF_MS = [2000, 5000, 10_000, 30_000, 60_000];

/** Watches one ONVIF camera's events and identity until stopped; it never throws. */
export class OnvifWatch {
  private stopped = false;
  private abort = new AbortController();
  private loop?: Promise<void>;
  private subscription?: string;
  private driftMs = 0;
  private noEventsLogged = false;
  private clockProblemLogged = false;

  constructor(private readonly target: OnvifTarget, private readonly opts: OnvifWatchOptions) {}

  start(): this {
    this.loop = this.run();
    return this;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const sub = this.subscription;
    this.abort.abort();
    await this.loop;
    if (sub) await this.soap(sub, 'http://docs.oasis-open.org/wsn/bw-2/SubscriptionManager/UnsubscribeRequest', '<Unsubscribe xmlns="http://docs.oasis-open.org/wsn/b-2"/>', 2000, sub).catch(() => undefined);
  }

  private async run(): Promise<void> {
    const identityEvery = this.opts.identityCheckMs ?? 60_000;
    let failures = 0;
    let identityAt = 0;
    let renewAt = 0;
    while (!this.stopped) {
      try {
        if (!this.subscription || Date.now() - identityAt >= identityEvery) {
          const info = await describeDevice({ ...this.target, timeoutMs: this.target.timeoutMs ?? 5000 });
          if (this.stopped) return;
          identityAt = Date.now();
          this.driftMs = info.clock_drift_ms ?? 0;
          if (info.clock_problem && !this.clockProblemLogged) {
            this.clockProblemLogged = true;
            this.opts.log?.warn({ host: this.target.host, clockProblem: info.clock_problem }, 'ONVIF camera clock not believed; its events are asked with this box\'s clock');
          }
          this.opts.onDevice(info.device);
          if (!this.subscription && info.events_url) {
            this.subscription = await this.subscribe(info.events_url);
            renewAt = Date.now() + 50_000;
          } else if (!info.events_url && !this.noEventsLogged) {
            this.noEventsLogged = true;
            this.opts.log?.info({ host: this.target.host }, 'the ONVIF camera offers no event service; only its identity is watched');
          }
        }
        if (this.subscription) {
          for (const n of await this.pull(this.subscription)) {
            const signal = signalOf(n.topic);
            if (signal && n.active !== null) this.opts.onSignal({ signal, topic: n.topic, active: n.active });
          }
          if (Date.now() >= renewAt) {
            await this.soap(this.subscription, 'http://docs.oasis-open.org/wsn/bw-2/SubscriptionManager/RenewRequest',
              '<Renew xmlns="http://docs.oasis-open.org/wsn/b-2"><TerminationTime>PT120S</TerminationTime></Renew>', 5000, this.subscription);
            renewAt = Date.now() + 50_000;
          }
        } else {
          await this.sleep(identityEvery);
        }
        failures = 0;
      } catch (err) {
        if (this.stopped) return;
        this.subscription = undefined;
        const delay = BACKOFF_MS[Math.min(failures++, BACKOFF_MS.length - 1)]!;
        this.opts.log?.[failures === 1 ? 'warn' : 'debug']({ host: this.target.host, err: (err as Error).message, retryInMs: delay }, 'ONVIF events: subscription lost; subscribing again');
        await this.sleep(delay);
      }
    }
  }

  private async subscribe(eventsUrl: string): Promise<string> {
    const xml = await this.soap(eventsUrl, 'http://www.onvif.org/ver10/events/wsdl/EventPortType/CreatePullPointSubscriptionRequest',
      '<CreatePullPointSubscription xmlns="http://www.onvif.org/ver10/events/wsdl"><InitialTerminationTime>PT120S</InitialTerminationTime></CreatePullPointSubscription>', 5000);
    const ref = xmlElements(xml, 'SubscriptionReference', 1)[0]?.body ?? '';
    const address = tag(ref, 'Address');
    if (!address) throw new Error('CreatePullPointSubscription answered without an address');
    // cameras behind NAT or with a wrong idea of their address: keep the host we reach them at
    const given = new URL(address), ours = new URL(eventsUrl);
    given.host = ours.host;
    this.opts.log?.info({ host: this.target.host }, 'ONVIF events subscribed');
    return given.href;
  }

  private async pull(address: string): Promise<Notification[]> {
    const timeout = this.opts.pullTimeoutS ?? 10;
    const xml = await this.soap(address, 'http://www.onvif.org/ver10/events/wsdl/PullPointSubscription/PullMessagesRequest',
      `<PullMessages xmlns="http://www.onvif.org/ver10/events/wsdl"><Timeout>PT${timeout}S</Timeout><MessageLimit>32</MessageLimit></PullMessages>`,
      (timeout + 10) * 1000, address);
    return parseNotifications(xml);
  }

  /** One SOAP 1.2 request, aborted on stop. */
  private soap(url: string, action: string, body: string, timeoutMs: number, to?: string): Promise<string> {
    return soapRequest(this.target, { url, action, body, timeoutMs, to, driftMs: this.driftMs, signal: this.abort.signal });
  }

  private sleep(ms: number): Promise<void> {
    return sleepUnlessAborted(ms, this.abort.signal);
  }
}
