-- BEGIN alone does not stop two instances from creating the same tables at
-- once (unique violations in the catalog). A transaction-level advisory lock
-- in this database, held until COMMIT or ROLLBACK, makes the upgrades take
-- turns; the key is arbitrary but fixed ('uwpx' in ASCII).
SELECT pg_advisory_xact_lock(1970763896);
