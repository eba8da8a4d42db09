SELECT COUNT(*) FROM devices WHERE suspended_at IS NOT NULL
