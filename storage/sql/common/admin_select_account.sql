SELECT node, secret FROM accounts WHERE device_id = :device_id AND account_key = :account_key
