-- Run before upsert_device in one transaction: a row changed here means the
-- device was suspended and its new channel resumes it.
UPDATE devices SET suspended_at = NULL
WHERE device_id = :device_id AND suspended_at IS NOT NULL
