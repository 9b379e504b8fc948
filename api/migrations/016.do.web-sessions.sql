-- Issue 31 part 3: the web view's sessions. A login with a token opens one (the browser holds its id in an HttpOnly,
-- SameSite=Strict cookie; only the id's hash is kept); every change made through it must carry its CSRF token.
CREATE TABLE web_sessions (
  id_sha256 bytea PRIMARY KEY,
  role text NOT NULL CHECK (role IN ('admin', 'owner')),
  owner_id text REFERENCES owners (id) ON DELETE CASCADE,
  csrf text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  CHECK ((role = 'owner') = (owner_id IS NOT NULL))
);
CREATE INDEX web_sessions_expires ON web_sessions (expires_at);
