/**
 * What a person sees of a text someone typed into a required field (a reason, an agency, an
 * officer's name or ID). Spaces, zero-width and other format characters (bidi marks, the byte
 * order mark) show nothing: a reason of zero-width spaces was registered as a reason nobody can
 * read, and "PB-1" with a non-breaking hyphen passed as another officer's ID than "PB-1" (outside
 * probes). Only `node:` built-ins here: the offline verifier uses it.
 */

const UNSEEN = /[\s\p{Cf}\p{Z}]/gu;

/** How many characters of `text` show: spaces and format characters not counted. */
export function visibleLength(text: string): number {
  return [...text.normalize('NFKC').replace(UNSEEN, '')].length;
}

/**
 * An ID as a person reads it, to tell two apart: compatibility forms folded (NFKC: full-width
 * digits, ligatures), case, spaces and format characters ignored, every dash one hyphen.
 */
export function idAsRead(id: string): string {
  return id.normalize('NFKC').replace(UNSEEN, '').replace(/\p{Pd}/gu, '-').toLowerCase();
}

/**
 * Whether `text` holds a control character (a line break, an escape, C1's CSI included) or
 * Unicode's line or paragraph separator: required fields are one line (U+2028 in a hold's reason
 * broke its line in the log's JSON readers; an outside probe).
 */
export function hasControl(text: string): boolean {
  return /[\p{Cc}\p{Zl}\p{Zp}]/u.test(text);
}
