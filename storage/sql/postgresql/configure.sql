-- libpq prints notices (CREATE TABLE IF NOT EXISTS ... skipping) straight to
-- stderr, outside our log format; warnings and errors still arrive.
SET client_min_messages = warning;
