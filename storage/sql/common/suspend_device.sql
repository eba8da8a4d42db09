-- WNS said 404/410 for the channel URI given. Only that channel suspends: a device
-- that sent a newer one meanwhile is left as it is, in the same statement,
-- so a late answer for the old channel cannot touch the new one.
UPDATE devices SET suspended_at = :now
WHERE device_id = :device_id AND channel_uri = :channel_uri AND suspended_at IS NULL
