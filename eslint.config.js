// Type-aware lint over every TypeScript source, so floating promises and unsafe code fail the tests; and the
// layers, so that no module imports from a layer above its own.
const tseslint = require('typescript-eslint');

/**
 * Layers, lowest first: a folder may import from its own layer and the ones below, never from one above.
 * common <- domain <- node/state <- activities <- workflows/workers <- api <- cli <- infra/bench (test sees all).
 */
const LAYERS = [
  ['common'],
  ['domain'],
  ['node', 'state'],
  ['activities'],
  ['workflows', 'workers'],
  ['api'],
  ['cli'],
  ['infra', 'bench'],
];

const layerRules = LAYERS.map((layer, i) => {
  const above = LAYERS.slice(i + 1).flat();
  const patterns = [
    {
      regex: `^\\.{1,2}/(?:\\.\\./)*(?:${above.join('|')})(?:/|$)`,
      message: `${layer.join('/')} is below ${above.join(', ')}: move what both need down a layer (domain/ for shared vocabulary).`,
    },
  ];
  return {
    files: layer.map((dir) => `${dir}/**/*.ts`),
    rules: { 'no-restricted-imports': ['error', { patterns }] },
  };
});

module.exports = tseslint.config(
  // The web view's script runs in the browser, outside the TypeScript project (it is checked by the browser test).
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '*.js', 'api/web/static/**'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: __dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
    },
  },
  ...layerRules,
);
