// tap's @tapjs/processinfo adds its module loader to every process a test starts, through a
// process-wide spawn hook (process-on-spawn) and NODE_OPTIONS, so that coverage can follow them.
// This suite collects no coverage ("disable-coverage"), and the loader cost each CLI and daemon
// the tests start about 0.3 s of CPU and 0.6 s of wall more (a `--help` went from 0.46 to 1.1 s
// on a loaded 2-core machine; one CI run starts about 800 of them). Both are taken out here, in
// the test process, before any test runs: its children start as they would on a box. Loaded with
// --import after tap's own (package.json "tap"."node-arg").
import process from 'node:process';

// process-on-spawn keeps its listeners on the global object, under this symbol (untyped)
// eslint-disable-next-line @typescript-eslint/no-unsafe-assignment
const hooks = /** @type {{ listeners: unknown[] } | undefined} */ (Reflect.get(globalThis, Symbol.for('process-on-spawn@*:singletonId')));
if (hooks) hooks.listeners.length = 0;
const options = process.env.NODE_OPTIONS?.split(/\s+/).filter((o) => o && !o.includes('@tapjs/processinfo')) ?? [];
if (options.length) process.env.NODE_OPTIONS = options.join(' ');
else delete process.env.NODE_OPTIONS;
