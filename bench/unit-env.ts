import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The environment the installed unit gives the daemon (every `Environment=` of
 * systemd/edge-nvr.service: NODE_OPTIONS, the allocator's settings, ...), read from the unit of the
 * build being run (`<root>/dist/daemon/cli.js` -> `<root>/systemd/`), so a baseline build runs
 * with its own.
 */
export function unitEnvironment(cli: string): Record<string, string> {
  const root = cli.replace(/\/dist\/daemon\/cli\.js$/, '');
  const unit = readFileSync(join(root, 'systemd', 'edge-nvr.service'), 'utf8');
  return Object.fromEntries([...unit.matchAll(/^Environment=([A-Za-z_][A-Za-z0-9_]*)=(.*)$/gm)].map((m) => [m[1]!, m[2]!.trim()]));
}
