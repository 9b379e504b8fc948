-- Issue 30: lectures drive evacuation. A container still on a PC when one of its lectures has started is a lecture
-- conflict (the student at that PC shares it with a container, the container risks being switched off): recorded
-- once per container, PC and lecture, so the figures count them.
CREATE TABLE lecture_conflicts (
  container_id text NOT NULL,
  node_id text NOT NULL,
  lecture_at timestamptz NOT NULL,
  detected_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (container_id, node_id, lecture_at)
);
CREATE INDEX lecture_conflicts_detected ON lecture_conflicts (detected_at);
