/**
 * One SOAP 1.2 request to an ONVIF service with our own small client (the event pull loop and
 * the Media2 privacy masks: the `onvif` package offers neither in a form we can stop or use),
 * with the WS-Security UsernameToken stamped by the camera's clock.
 */
import type { OnvifTarget } from './onvif.js';
import { boundedText } from './onvif-bounds.js';
import { foreignText } from '../../common/human.js';
import { xmlTag } from './onvif-xml.js';
import { usernameToken } from './ws-security.js';

const NS = 'xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://www.w3.org/2005/08/addressing"';

export interface SoapRequest {
  url: string;
  /** the SOAP action URI */
  action: string;
  /** the Body's content */
  body: string;
  timeoutMs: number;
  /** camera clock minus box clock, ms: the UsernameToken's Created is stamped with the camera's time */
  driftMs?: number;
  /** WS-Addressing To (subscriptions) */
  to?: string;
  signal?: AbortSignal;
}

/**
 * Sends one request; a fault or an HTTP error throws with the fault's reason (cut, escaped),
 * naming the camera, never its credentials. A redirect is never followed: the request carries
 * the WS-Security UsernameToken, and a camera (or whoever answers in its name) answering 307
 * with a Location on another host would have had it posted there, its digest open to an offline
 * guess of the password and its nonce to a replay (an outside probe).
 */
export async function soapRequest(target: OnvifTarget, req: SoapRequest): Promise<string> {
  const header = (target.username ? usernameToken(target.username, target.password ?? '', req.driftMs ?? 0) : '')
    + (req.to ? `<a:To>${req.to.replace(/&/g, '&amp;')}</a:To>` : '');
  const envelope = `<?xml version="1.0" encoding="UTF-8"?><s:Envelope ${NS}><s:Header>${header}</s:Header><s:Body>${req.body}</s:Body></s:Envelope>`;
  const timeout = AbortSignal.timeout(req.timeoutMs);
  const signal = req.signal ? AbortSignal.any([req.signal, timeout]) : timeout;
  const res = await fetch(req.url, { method: 'POST', body: envelope, signal, redirect: 'manual', headers: { 'Content-Type': `application/soap+xml; charset=utf-8; action="${req.action}"` } });
  if (res.status >= 300 && res.status < 400) {
    // the body is not read; the Location (which may carry anything) is not repeated
    await res.body?.cancel().catch(() => undefined);
    throw new Error(`ONVIF camera ${target.host}: answered HTTP ${res.status} (a redirect); not followed, so that its credentials go nowhere else`);
  }
  const text = await boundedText(res, target.host);
  if (!res.ok || /<(?:[\w-]+:)?Fault\b/.test(text)) {
    throw new Error(`ONVIF camera ${target.host}: ${foreignText(xmlTag(text, 'Text') ?? `HTTP ${res.status}`)}`);
  }
  return text;
}
