DELETE FROM devices WHERE updated_at < :cutoff
