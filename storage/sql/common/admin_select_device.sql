SELECT channel_uri, protocol_version, updated_at, suspended_at
FROM devices WHERE device_id = :device_id
