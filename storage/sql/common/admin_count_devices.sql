-- uwpx-pushctl stats: devices by protocol version, active (suspended_at NULL)
-- and suspended (their channel gone, docs/protocol.md) apart.
SELECT protocol_version, suspended_at IS NOT NULL AS suspended, COUNT(*)
FROM devices GROUP BY protocol_version, suspended_at IS NOT NULL
