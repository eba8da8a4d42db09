-- import: who holds a node already (nodes are unique across the store).
SELECT device_id, account_key, secret FROM accounts WHERE node = :node
