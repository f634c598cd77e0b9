-- API tokens may expire (`token create --expires-in 90d`); NULL keeps a token until it is revoked.
ALTER TABLE api_tokens ADD COLUMN expires_at timestamptz;
