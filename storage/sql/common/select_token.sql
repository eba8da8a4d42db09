SELECT access_token, expires_at FROM wns_tokens WHERE token_key = :token_key
