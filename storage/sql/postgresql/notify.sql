-- Wakes the other instances listening on the channel (PostgreSQL only).
SELECT pg_notify(:channel, :payload)
