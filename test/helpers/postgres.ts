// A real PostgreSQL server for a test file (infra/cluster/postgres.ts startScratchPostgres).
export {
  startScratchPostgres as startTestPostgres,
  type ScratchPostgres as TestPostgres,
} from '../../infra/cluster/postgres';
