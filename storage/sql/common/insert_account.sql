INSERT INTO accounts (device_id, account_key, protocol_version, domain, node, secret,
                      created_at, updated_at)
VALUES (:device_id, :account_key, :protocol_version, :domain, :node, :secret, :now, :now)
