/** Camera URLs carry credentials; everything printed or published uses `safeUrl` instead. */

const USERINFO = /([a-z][a-z0-9+.-]*:\/\/)([^/@\s]*)@/gi;

/** Replaces the userinfo (user and password) of every URL in `text` with `***`, e.g. rtsp://***@10.0.0.5/ch1. */
export function scrubCredentials(text: string): string {
  return text.replace(USERINFO, '$1***@');
}

/** The URL ffmpeg/GStreamer are given: credentials from config folded into the userinfo part. */
export function withCredentials(url: string, username?: string, password?: string): string {
  if (!username) return url;
  const u = new URL(url);
  u.username = encodeURIComponent(username);
  u.password = encodeURIComponent(password ?? '');
  return u.toString();
}
