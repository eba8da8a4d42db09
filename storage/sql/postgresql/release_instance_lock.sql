-- Lets go of the instance lock this session holds (PostgreSQL only).
SELECT pg_advisory_unlock(:key)
