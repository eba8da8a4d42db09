-- IMMEDIATE takes the write lock up front, so two writers wait (busy_timeout)
-- instead of failing when a reader tries to upgrade.
BEGIN IMMEDIATE
