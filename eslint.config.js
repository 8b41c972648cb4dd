import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', '.gedge/', 'bench/results/', 'dist/', 'dist.*/', 'dashboard/dist/', 'dashboard/dist.*/', 'test-results/', '*.cjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', URL: 'readonly', fetch: 'readonly', TextDecoder: 'readonly', AbortController: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-empty': ['error', { allowEmptyCatch: false }],
      eqeqeq: ['error', 'always'],
      'no-eval': 'error',
      'no-new-func': 'error',
    },
  },
  {
    // The service layer takes a caller identity and knows no transport (the dependency checker keeps it off center/api and center/hub).
    files: ['center/services/**/*.ts', 'center/reports/**/*.ts', 'center/uplink/uplink-service.ts', 'center/uplink/uplink-module.ts'],
    rules: { 'no-restricted-imports': ['error', { paths: ['fastify', 'ws'].map((name) => ({ name, message: 'the service layer is free of HTTP: a route or the agent hub adapts it' })) }] },
  },
);
