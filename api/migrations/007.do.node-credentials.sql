-- Each PC has its own credential for migration-api (and, through the Temporal gate, for Temporal): only its hash is
-- kept; revoking one cuts that PC off without touching the others. A PC has at most one live credential.
CREATE TABLE node_credentials (
  node_id text PRIMARY KEY,
  token_sha256 bytea NOT NULL UNIQUE,
  -- SHA-256 of the PC's current client certificate for the Temporal gate (hex); other certificates of it are refused.
  cert_sha256 text,
  issued_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz
);
