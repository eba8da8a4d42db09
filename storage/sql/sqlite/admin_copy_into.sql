-- uwpx-pushctl backup: a consistent copy (one read transaction) while the
-- daemon writes; the target must be missing or an empty file.
VACUUM INTO :path
