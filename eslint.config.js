import js from '@eslint/js';
import { builtinModules } from 'node:module';
import tseslint from 'typescript-eslint';

// Workflow code runs in Temporal's deterministic sandbox. From the project it may import (as
// values) only modules that are themselves workflow-safe; types may come from anywhere.
const WORKFLOW_SAFE_PROJECT_MODULES =
  'common/(app-version|errors|failures|mcu-profiles|resources|rollout-count|task-queues|validation)|temporal/search-attributes';
const workflowSafetyMessage =
  'workflow code runs in the deterministic workflow sandbox: no Node built-ins or I/O modules (use an activity)';

export default tseslint.config(
  { ignores: ['node_modules/', '.wasmbed/', '.tools/', 'dist/', 'firmware/', 'examples/apps/dist/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        URL: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // The stores are async: a call whose promise nobody awaits or catches would lose its error
    // (or its ordering). These rules need the type checker, hence the project service.
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: builtinModules.map((name) => ({ name, message: workflowSafetyMessage })),
          patterns: [
            { regex: '^node:', message: workflowSafetyMessage },
            {
              regex: '^(?![.]|@temporalio/(workflow|common)$)',
              allowTypeImports: true,
              message: `${workflowSafetyMessage}; packages other than @temporalio/workflow and @temporalio/common are types only`,
            },
            {
              regex: `^[.][.]/(?!(${WORKFLOW_SAFE_PROJECT_MODULES})[.]js$)`,
              allowTypeImports: true,
              message: `${workflowSafetyMessage}; from outside workflows/ only these are workflow-safe: ${WORKFLOW_SAFE_PROJECT_MODULES}`,
            },
          ],
        },
      ],
    },
  },
  {
    // The contracts are a leaf that every process imports: nothing of the project but themselves.
    files: ['workflows/contracts/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(?!@temporalio/workflow$|[.]/)',
              message:
                'workflows/contracts/ is a leaf: it imports only @temporalio/workflow and its own files',
            },
          ],
        },
      ],
    },
  },
  {
    // Tests read loosely typed JSON from the API on purpose.
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
);
