UPDATE devices SET updated_at = :now WHERE device_id = :device_id
