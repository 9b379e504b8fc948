-- Containers, the lecture timetable (rooms -> PCs, expanded occurrences) and migration history.
CREATE TABLE containers (
  id          text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9_.-]{0,63}$'),
  args        text[] NOT NULL,
  env         text[] NOT NULL,
  memory_mib  integer NOT NULL CHECK (memory_mib > 0),
  rootfs      jsonb NOT NULL,
  -- Where it runs now; NULL until started.
  node_id     text,
  state       text NOT NULL CHECK (state IN ('created', 'running', 'migrating', 'stopped')),
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Which PCs stand in which room (a PC may be mapped before it first reports).
CREATE TABLE room_nodes (
  room    text NOT NULL,
  node_id text NOT NULL,
  PRIMARY KEY (room, node_id)
);
CREATE INDEX room_nodes_node ON room_nodes (node_id);

-- One import per name (e.g. "2026-fall"): importing the same name again replaces its lectures.
CREATE TABLE lecture_imports (
  name        text PRIMARY KEY,
  format      text NOT NULL CHECK (format IN ('ics', 'csv')),
  lectures    integer NOT NULL,
  imported_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE lectures (
  id          bigserial PRIMARY KEY,
  import_name text NOT NULL REFERENCES lecture_imports (name) ON DELETE CASCADE,
  room        text NOT NULL,
  title       text NOT NULL,
  starts_at   timestamptz NOT NULL,
  ends_at     timestamptz NOT NULL CHECK (ends_at > starts_at)
);
CREATE INDEX lectures_room_time ON lectures (room, starts_at);

CREATE TABLE migrations (
  id           text PRIMARY KEY,
  -- migrate-<container>: Temporal refuses a second one while one runs.
  workflow_id  text NOT NULL,
  run_id       text NOT NULL,
  container_id text NOT NULL REFERENCES containers (id),
  from_node    text NOT NULL,
  to_node      text NOT NULL,
  reason       text NOT NULL,
  status       text NOT NULL CHECK (status IN ('running', 'completed', 'failed')),
  -- The placement decision with every candidate's terms (NULL when the target was given).
  decision     jsonb,
  -- The workflow's report: steps with times, bytes, strategy, downtime.
  report       jsonb,
  error        text,
  started_at   timestamptz NOT NULL DEFAULT now(),
  ended_at     timestamptz
);
CREATE INDEX migrations_container ON migrations (container_id, started_at DESC);
