-- uwpx-pushctl stats: accounts by the protocol version that created them.
SELECT protocol_version, COUNT(*) FROM accounts GROUP BY protocol_version
