// Runs the tests' TypeScript through tsx (esbuild, transforms cached on disk) instead of tap's
// @tapjs/typescript, whose ts-node loads the TypeScript compiler into every test process and
// transpiles each imported module again, uncached: 0.6-3.1 s of CPU a file more (bench/README.md,
// "The test suite's time"). Loaded with --import (package.json "tap"."node-arg"), so it runs
// again in every worker thread, which inherits the option: tsx's own `--import=tsx` registers
// its hooks on the main thread only on Node 20, and a worker started from a .ts module (the
// detection thread, the view analysis thread) could not load its .ts script.
import { register } from 'tsx/esm/api';

register();
