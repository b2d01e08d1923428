import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const SYSTEMD_DIR = fileURLToPath(new URL('../../systemd/', import.meta.url)).replace(/\/dist\/systemd\/$/, '/systemd/');

export type UnitFile = Map<string, Map<string, string[]>>;

/** section -> key -> every value, in order (systemd keys may repeat; an empty value resets). */
export function parseUnit(text: string): UnitFile {
  const sections: UnitFile = new Map();
  let current: Map<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const section = /^\[(.+)\]$/.exec(line);
    if (section) {
      current = new Map();
      sections.set(section[1]!, current);
      continue;
    }
    const eq = line.indexOf('=');
    if (!current || eq < 0) throw new Error(`not a unit file line: ${line}`);
    const key = line.slice(0, eq).trim();
    current.set(key, [...(current.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return sections;
}

export function readUnit(name = 'edge-nvr.service'): UnitFile {
  return parseUnit(readFileSync(`${SYSTEMD_DIR}${name}`, 'utf8'));
}
