/**
 * A UTF-16 surrogate without its partner: valid in a JS string (JSON's "\ud800" makes one), not
 * text. SQLite, a file or a socket stores it as U+FFFD, so anything hashed before it is stored
 * (an audit entry) would read back as altered.
 */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const LONE_SURROGATES = new RegExp(LONE_SURROGATE.source, 'g');

export function hasLoneSurrogate(s: string): boolean {
  return LONE_SURROGATE.test(s);
}

/** `s` with each lone surrogate replaced by U+FFFD, as UTF-8 encoding would store it. */
export function wellFormed(s: string): string {
  return s.replace(LONE_SURROGATES, '\ufffd');
}
