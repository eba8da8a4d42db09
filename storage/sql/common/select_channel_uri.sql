SELECT channel_uri FROM devices WHERE device_id = :device_id
