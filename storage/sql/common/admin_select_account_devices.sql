-- forget-jid: every (device, account key) pair; the tool hashes the address
-- with each device id and keeps the pairs whose key matches.
SELECT device_id, account_key FROM accounts
