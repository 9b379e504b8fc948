/** Unit tests run in seconds without services; integration tests start real ones (see test/integration). */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.(ts|js)$': ['@swc/jest', { jsc: { target: 'es2022' }, module: { type: 'commonjs' } }] },
  // ESM-only dependencies are compiled to CommonJS for jest (Node >= 20.19 loads them natively at run time).
  transformIgnorePatterns: ['/node_modules/(?!(postgrator)/)'],
  // Integration tests start a Temporal dev server, PostgreSQL, namespaces and processes.
  testTimeout: 120_000,
  // Workflow code for the worker is bundled from source by the Temporal SDK, not through jest.
  modulePathIgnorePatterns: ['<rootDir>/dist/'],
};
