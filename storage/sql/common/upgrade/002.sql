-- A device whose channel WNS reported gone (404/410) is suspended, never
-- deleted: its accounts, nodes and secrets stay, since the client re-sends
-- neither its accounts nor its XEP-0357 enable (docs/protocol.md, "A device's
-- life"). NULL: active; else when it was suspended (ms since the epoch, UTC).
-- The device's next set_channel_uri clears it.
ALTER TABLE devices ADD COLUMN suspended_at BIGINT;
