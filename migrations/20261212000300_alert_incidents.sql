-- Admin alerts (issue 17): one row per incident — a channel down, dead letters waiting. An
-- incident is open while closed_at is NULL; at most one is open per (kind, subject), so opening
-- one (and its alert) and closing it (and its recovery notice) each happen once, across restarts.
CREATE TABLE alert_incidents (
    id INTEGER PRIMARY KEY,
    -- 'channel_down' (subject: the channel's name) or 'dead_letters' (subject: '').
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    opened_at TEXT NOT NULL,
    detail TEXT,
    closed_at TEXT
);
CREATE UNIQUE INDEX alert_incidents_open ON alert_incidents(kind, subject) WHERE closed_at IS NULL;

-- Alerts, /readyz and /metrics count the rows that need an admin every few seconds: without
-- this, each count scans the whole outbox (months of sent messages).
CREATE INDEX outbox_attention ON outbox(status) WHERE status IN ('dead', 'unroutable', 'unknown');

-- GET /readyz proves the database takes writes by rewriting this one row.
CREATE TABLE health_probe (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    at TEXT NOT NULL
);
