/**
 * Reading a device's XML in linear time. Anything on the camera network can answer in a
 * camera's name, with up to 2 MB (onvif-bounds.ts): a pattern such as `<Text\b[^>]*>` or
 * `<Masks\b[\s\S]*?</Masks>` is tried at every `<` and scans to the end of the text when the
 * device never closes the tag, so 2 MB of `<s:Text ` costs minutes of CPU with the event loop
 * held (an outside probe). Here a tag's inside may not hold `<` or `>` (it cannot in XML), so
 * every try stops at the next `<`, and an element's end is searched once: when it is missing,
 * no later element can be closed either, and the search stops.
 */

/** Names are ours (literal element names), never a device's; escaped anyway. */
const re = (name: string) => name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * A tag's inside after its name: a space or `/`, then anything but `<` and `>`, a quoted value
 * (which may hold `>`) whole. Each character has one way to match, so a try that fails gives up
 * at the next `<`.
 */
const INSIDE = '[\\s/](?:[^<>"]|"[^"<]*")*';

/** The opening tag of `name` (any prefix): group 1 its attributes (possibly empty or undefined). */
const openingTag = (name: string, flags = '') => new RegExp(`<(?:[\\w-]+:)?${re(name)}(${INSIDE})?>`, flags);
const closingTag = (name: string) => new RegExp(`</(?:[\\w-]+:)?${re(name)}\\s*>`, 'g');

/** The text of the first element `name` (any prefix), trimmed; an element holding other elements has none. */
export const xmlTag = (xml: string, name: string): string | undefined =>
  new RegExp(`<(?:[\\w-]+:)?${re(name)}(?:${INSIDE})?>([^<]*)</(?:[\\w-]+:)?${re(name)}\\s*>`).exec(xml)?.[1]?.trim();

/** The attributes text of the first opening tag `name` (any prefix), '' when it has none; undefined when there is no such tag. */
export function openingAttrs(xml: string, name: string): string | undefined {
  const m = openingTag(name).exec(xml);
  return m ? (m[1] ?? '') : undefined;
}

/** Every opening tag `name`'s attributes text, in order. */
export function allOpeningAttrs(xml: string, name: string): string[] {
  return [...xml.matchAll(openingTag(name, 'g'))].map((m) => m[1] ?? '');
}

/** An attribute's value in a tag's attributes text (no entity decoding: tokens and numbers). */
export const attr = (tagText: string, name: string): string | undefined => new RegExp(`\\b${re(name)}="([^"]*)"`).exec(tagText)?.[1];

export interface XmlElement {
  /** the opening tag's attributes text */
  attrs: string;
  /** what lies between the opening and the closing tag */
  body: string;
  /** the whole element, tags included */
  whole: string;
}

/** The elements `name` (any prefix), not nested in one another, in order; at most `max`. */
export function xmlElements(xml: string, name: string, max = Infinity): XmlElement[] {
  const out: XmlElement[] = [];
  const open = openingTag(name, 'g');
  const close = closingTag(name);
  while (out.length < max) {
    const o = open.exec(xml);
    if (!o) break;
    const selfClosing = (o[1] ?? '').endsWith('/');
    const bodyStart = o.index + o[0].length;
    if (selfClosing) {
      out.push({ attrs: o[1] ?? '', body: '', whole: o[0] });
      continue;
    }
    close.lastIndex = bodyStart;
    const c = close.exec(xml);
    // no closing tag after this one: none after any later opening either
    if (!c) break;
    out.push({ attrs: o[1] ?? '', body: xml.slice(bodyStart, c.index), whole: xml.slice(o.index, c.index + c[0].length) });
    open.lastIndex = c.index + c[0].length;
  }
  return out;
}
