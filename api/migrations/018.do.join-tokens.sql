-- Issue 32: enrollment. An administrator issues a join token bound to one PC id; the PC presents it once, with a
-- certificate request, and gets its credential and certificate. Only the token's hash is kept; used or expired
-- tokens are refused.
CREATE TABLE join_tokens (
  token_sha256 bytea PRIMARY KEY,
  node_id text NOT NULL,
  issued_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  used_at timestamptz
);
CREATE INDEX join_tokens_node ON join_tokens (node_id);
