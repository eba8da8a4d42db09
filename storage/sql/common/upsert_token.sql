INSERT INTO wns_tokens (token_key, access_token, expires_at)
VALUES (:token_key, :access_token, :expires_at)
ON CONFLICT (token_key) DO UPDATE SET
    access_token = excluded.access_token,
    expires_at = excluded.expires_at
