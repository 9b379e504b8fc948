/** Unit tests run in seconds without services; integration tests start real ones (see test/integration). */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }] },
  // Integration tests start a Temporal dev server, PostgreSQL, namespaces and processes.
  testTimeout: 120_000,
  // Workflow code for the worker is bundled from source by the Temporal SDK, not through jest.
  modulePathIgnorePatterns: ['<rootDir>/dist/'],
};
