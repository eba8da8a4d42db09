-- import: a device this store does not know yet; one it knows keeps what it has.
INSERT INTO devices (device_id, channel_uri, protocol_version, updated_at)
VALUES (:device_id, :channel_uri, :protocol_version, :now)
