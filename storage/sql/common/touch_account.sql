UPDATE accounts SET updated_at = :now, protocol_version = :protocol_version
WHERE device_id = :device_id AND account_key = :account_key
