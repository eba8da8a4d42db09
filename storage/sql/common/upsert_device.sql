-- A new channel URI also ends a suspension (see resume_device).
INSERT INTO devices (device_id, channel_uri, protocol_version, updated_at)
VALUES (:device_id, :channel_uri, :protocol_version, :now)
ON CONFLICT (device_id) DO UPDATE SET
    channel_uri = excluded.channel_uri,
    protocol_version = excluded.protocol_version,
    updated_at = excluded.updated_at,
    suspended_at = NULL
