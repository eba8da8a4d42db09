SELECT account_key, node, secret FROM accounts WHERE device_id = :device_id
