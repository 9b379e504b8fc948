-- Issue 33: continuous protection. Each PC reports, with its load, the newest safety checkpoint of each container it
-- runs: which PC keeps it, when it froze the program (the most work a power-off now loses runs from there), how long
-- the freeze was, its bytes and the interval chosen next. Replaced at each report of that PC.
CREATE TABLE protection (
  container_id text PRIMARY KEY,
  node_id text NOT NULL,
  holder text NOT NULL,
  generation bigint NOT NULL,
  checkpoint_at timestamptz NOT NULL,
  frozen_ms integer NOT NULL,
  wire_bytes bigint NOT NULL,
  took_ms integer NOT NULL,
  interval_ms integer NOT NULL,
  reported_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX protection_node ON protection (node_id);
