// ESLint (flat config) with typescript-eslint. `npm run check` runs it; CI runs `npm test`, which runs check.
// The layering rule (CONVENTIONS.md §1, AGENTS.md "Layers") is also a unit test (test/unit/layering.test.ts), which
// sees through `import type`; here it is the editor's squiggle for the same mistake.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const layer = (patterns) => ['error', { patterns: patterns.map((p) => ({ ...p, allowTypeImports: true })) }];

export default tseslint.config(
  {
    ignores: [
      'node_modules/**',
      'dist/**',
      'out/**',
      '.vscode-test/**',
      '.e2e-artifacts/**',
      'bench/tmp/**',
      'demo/**',
      'media/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          destructuredArrayIgnorePattern: '^_',
          caughtErrors: 'none',
        },
      ],
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-require-imports': 'off',
      '@typescript-eslint/no-empty-function': 'off',
      'no-empty': ['error', { allowEmptyCatch: true }],
      'no-constant-condition': ['error', { checkLoops: false }],
      'no-control-regex': 'off',
    },
  },
  {
    files: ['src/core/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': layer([
        { group: ['vscode', 'vscode/*'], message: 'src/core never imports vscode at run time (use import type).' },
        { group: ['**/vscode/*', '**/cli/*', '**/webview/*'], message: 'src/core imports only src/core.' },
      ]),
    },
  },
  {
    files: ['src/webview/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': layer([
        { group: ['vscode', 'vscode/*'], message: 'src/webview is browser code: no vscode.' },
        {
          group: ['**/core/*', '**/vscode/*', '**/cli/*'],
          message: 'src/webview talks to the host only through protocol.ts.',
        },
      ]),
    },
  },
  {
    files: ['**/*.mjs', '**/*.cjs', '**/*.js', '**/*.d.cts'],
    ...tseslint.configs.disableTypeChecked,
    rules: {
      ...tseslint.configs.disableTypeChecked.rules,
      '@typescript-eslint/no-require-imports': 'off',
      'no-empty': ['error', { allowEmptyCatch: true }],
    },
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        URL: 'readonly',
        __dirname: 'readonly',
        require: 'readonly',
        module: 'writable',
        fetch: 'readonly',
        AbortController: 'readonly',
        TextDecoder: 'readonly',
        TextEncoder: 'readonly',
      },
    },
  },
);
