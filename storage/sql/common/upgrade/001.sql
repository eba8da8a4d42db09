-- Devices and the accounts registered on them (docs/protocol.md), and the WNS token.
-- Times are milliseconds since the Unix epoch, UTC.
CREATE TABLE devices (
    device_id        TEXT PRIMARY KEY,
    channel_uri      TEXT NOT NULL,
    protocol_version INTEGER NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX devices_updated_at ON devices (updated_at);
CREATE TABLE accounts (
    device_id        TEXT NOT NULL REFERENCES devices (device_id) ON DELETE CASCADE,
    account_key      TEXT NOT NULL,
    protocol_version INTEGER NOT NULL,
    domain           TEXT NOT NULL DEFAULT '',
    node             TEXT NOT NULL UNIQUE,
    secret           TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    PRIMARY KEY (device_id, account_key)
);
CREATE TABLE wns_tokens (
    token_key    TEXT PRIMARY KEY,
    access_token TEXT NOT NULL,
    expires_at   BIGINT NOT NULL
);
