-- Takes the instance lock (InstanceLock) if it is free, without waiting: true
-- when this session holds it now (PostgreSQL only).
SELECT pg_try_advisory_lock(:key)
