DELETE FROM devices WHERE device_id = :device_id
