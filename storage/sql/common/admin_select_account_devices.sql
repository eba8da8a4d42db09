-- forget-jid: every (device, account key) pair, a device's together, so the
-- tool hashes the address once per device and keeps the pairs that match.
SELECT device_id, account_key FROM accounts ORDER BY device_id
