-- API tokens. Only a SHA-256 of the token is stored; the token itself is shown once.
CREATE TABLE api_tokens (
  id           uuid PRIMARY KEY,
  name         text NOT NULL UNIQUE,
  role         text NOT NULL CHECK (role IN ('admin', 'submit', 'read', 'worker')),
  hash         text NOT NULL UNIQUE,
  prefix       text NOT NULL,               -- the first characters, to recognise a token in lists
  rate_limit   integer CHECK (rate_limit > 0), -- requests per second; null: the server default
  created_at   timestamptz(3) NOT NULL DEFAULT now(),
  expires_at   timestamptz(3),
  revoked_at   timestamptz(3),
  last_used_at timestamptz(3)
);
