-- WAL lets readers and the writer proceed together; synchronous=FULL makes
-- a committed registration survive power loss, not just a process crash.
PRAGMA journal_mode = WAL;
PRAGMA synchronous = FULL;
PRAGMA foreign_keys = ON;
