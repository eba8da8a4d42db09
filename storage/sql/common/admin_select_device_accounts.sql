SELECT account_key, protocol_version, domain, node, secret, created_at, updated_at
FROM accounts WHERE device_id = :device_id ORDER BY created_at, account_key
