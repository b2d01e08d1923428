/** HTML text from server data: every value passes `esc`, so no camera name or event can inject markup. */
export function esc(value: unknown): string {
  const text = typeof value === 'string' ? value
    : typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint' ? value.toString()
      : value === null || value === undefined ? '' : JSON.stringify(value);
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** A tagged template for markup: interpolated values are escaped unless they are `Raw`. */
export class Raw {
  constructor(readonly html: string) {}
  toString(): string { return this.html; }
}

export function html(strings: TemplateStringsArray, ...values: unknown[]): Raw {
  let out = strings[0]!;
  values.forEach((v, i) => {
    out += (Array.isArray(v) ? v.map(part).join('') : part(v)) + strings[i + 1]!;
  });
  return new Raw(out);
}

function part(v: unknown): string {
  if (v instanceof Raw) return v.html;
  if (v === null || v === undefined || v === false) return '';
  return esc(v);
}
