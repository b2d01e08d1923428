import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export interface ModuleTrace {
  /** for the traced process's NODE_OPTIONS */
  nodeOptions: string;
  /** the URL of every module loaded so far, in load order (the project's own and its packages') */
  loaded(): string[];
}

/**
 * Which modules a Node process loads, seen by a module loader hook given to it with
 * `node --import`: each URL the ESM loader loads is appended to a file in `dir`. A package reached
 * by `import` shows up by its entry file (what a CommonJS package then require()s inside itself
 * is not listed, which is enough to tell whether a package was loaded at all).
 */
export function moduleTrace(dir: string): ModuleTrace {
  mkdirSync(dir, { recursive: true });
  const out = join(dir, 'loaded.txt');
  writeFileSync(out, '');
  const hooks = join(dir, 'trace-hooks.mjs');
  writeFileSync(hooks, `import { appendFileSync } from 'node:fs';
export async function load(url, context, next) {
  const loaded = await next(url, context);
  appendFileSync(${JSON.stringify(out)}, url + '\\n');
  return loaded;
}
`);
  const preload = join(dir, 'trace-register.mjs');
  writeFileSync(preload, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`);
  return {
    nodeOptions: `--import=${pathToFileURL(preload).href}`,
    loaded: () => (existsSync(out) ? readFileSync(out, 'utf8').split('\n').filter(Boolean) : []),
  };
}
