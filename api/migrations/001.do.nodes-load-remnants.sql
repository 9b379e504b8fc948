-- PCs, their load over time, and the remnants each holds (paper sec. 4.2, mechanism 1).
CREATE TABLE nodes (
  id                 text PRIMARY KEY,
  address            text NOT NULL,
  task_queue         text NOT NULL,
  cpu_model          text NOT NULL,
  cpu_cores          integer NOT NULL,
  -- Instruction-set features: a process restored on a CPU lacking one it used dies with SIGILL.
  cpu_flags          text[] NOT NULL,
  memory_total_bytes bigint NOT NULL,
  dirty_tracking     boolean NOT NULL,
  criu_version       text NOT NULL,
  registered_at      timestamptz NOT NULL DEFAULT now(),
  last_report_at     timestamptz NOT NULL
);

CREATE TABLE load_samples (
  node_id                text NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
  at                     timestamptz NOT NULL,
  cpu                    real NOT NULL CHECK (cpu BETWEEN 0 AND 1),
  memory                 real NOT NULL CHECK (memory BETWEEN 0 AND 1),
  memory_available_bytes bigint NOT NULL,
  PRIMARY KEY (node_id, at)
);
CREATE INDEX load_samples_at ON load_samples (at);

CREATE TABLE remnants (
  node_id      text NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
  container_id text NOT NULL,
  has_bundle   boolean NOT NULL,
  generations  integer[] NOT NULL,
  image_bytes  bigint NOT NULL,
  -- NULL while the container runs on this node; set once it left.
  left_at      timestamptz,
  expires_at   timestamptz,
  reported_at  timestamptz NOT NULL,
  PRIMARY KEY (node_id, container_id)
);
