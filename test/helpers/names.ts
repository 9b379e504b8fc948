/** A short prefix unique to this test process, so namespaces and ids never collide with a running cluster. */
export const TEST_PREFIX = `zt${(process.pid % 10_000).toString(36)}`;
