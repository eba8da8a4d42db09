SELECT channel_uri, suspended_at FROM devices WHERE device_id = :device_id
