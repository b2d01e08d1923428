// @ts-check
// `npm run lint` (and `npm test`, through pretest): type-checked rules over everything tsconfig.json
// compiles, the daemon, bench/ and test/ alike. The reason for each rule turned off is beside it.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  // *.generated.ts: ajv's generated code (npm run schema), each checked against its schema by a test
  { ignores: ['dist/', 'node_modules/', 'models/', 'data/', 'demo-data/', '.tap/', 'eslint.config.js', '**/*.generated.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      // test/support/*.mjs: what tap imports into each test process before any TypeScript can load (not in tsconfig.json)
      parserOptions: { projectService: { allowDefaultProject: ['test/support/tsx.mjs', 'test/support/untracked-children.mjs'] }, tsconfigRootDir: import.meta.dirname },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // A rejection nobody awaits vanishes (or, since Node 15, kills the daemon unseen): the reason for this file.
      '@typescript-eslint/no-floating-promises': ['error', {
        // t.test() returns a promise tap itself awaits and reports: a subtest cannot fail unseen.
        allowForKnownSafePromises: [{ from: 'package', name: 'PromiseWithSubtest', package: '@tapjs/core' }],
      }],
      '@typescript-eslint/no-misused-promises': 'error',
      // Style only: removing ~200 redundant `!`/`as` finds no bug and would conflict with every branch.
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
      // Style only: an async function without await is harmless (commands are async by contract).
      '@typescript-eslint/require-await': 'off',
      // A variable a closure reads before its one assignment (a timer, the watchdog pings) must stay `let`:
      // as a const declared later, a signal arriving first would throw in the temporal dead zone.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // Tests read the CLI's JSON output untyped on purpose: a wrong shape fails the assertion itself.
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
);
