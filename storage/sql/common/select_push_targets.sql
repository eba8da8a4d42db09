-- The push targets of several nodes in one round trip. StorageConnection
-- writes the placeholder list out as n0, n1, ... (each with its colon).
SELECT d.device_id, d.channel_uri, a.account_key, a.protocol_version, a.domain, a.node, a.secret,
       d.updated_at, d.suspended_at
FROM accounts a JOIN devices d ON d.device_id = a.device_id
WHERE a.node IN (:nodes)
