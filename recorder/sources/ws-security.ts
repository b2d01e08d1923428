import { createHash, randomBytes } from 'node:crypto';

/** WS-Security PasswordDigest = base64(sha1(nonce + created + password)) */
export function passwordDigest(nonceB64: string, created: string, password: string): string {
  return createHash('sha1').update(Buffer.concat([Buffer.from(nonceB64, 'base64'), Buffer.from(created), Buffer.from(password)])).digest('base64');
}

const xml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/**
 * The UsernameToken header an ONVIF camera checks, stamped with the camera's clock (`driftMs`:
 * camera minus box) so a camera whose clock is off still accepts it.
 */
export function usernameToken(username: string, password: string, driftMs = 0): string {
  const nonce = randomBytes(16).toString('base64');
  // a drift that is no number (a camera clock that is no date) stamps the box's time, not 1970 or a throw
  const created = new Date(Date.now() + (Number.isFinite(driftMs) ? driftMs : 0)).toISOString().replace(/\.\d+Z$/, 'Z');
  return '<Security s:mustUnderstand="1" xmlns="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"><UsernameToken>'
    + `<Username>${xml(username)}</Username>`
    + `<Password Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest">${passwordDigest(nonce, created, password)}</Password>`
    + `<Nonce EncodingType="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary">${nonce}</Nonce>`
    + `<Created xmlns="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd">${created}</Created>`
    + '</UsernameToken></Security>';
}
