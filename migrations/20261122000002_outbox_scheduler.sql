-- Durable delivery (outbox), schedules with their firing ledger, and personal leave.

CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    channel         TEXT,                 -- NULL while no channel can reach the recipient
    chat_kind       TEXT CHECK (chat_kind IN ('group', 'private')),
    chat_id         TEXT,
    person_id       INTEGER REFERENCES people(id),   -- the recipient, when a person
    segments        TEXT NOT NULL,        -- JSON array of segments
    delivery        TEXT NOT NULL DEFAULT 'at_least_once' CHECK (delivery IN ('at_least_once', 'at_most_once')),
    status          TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'dead', 'cancelled', 'unroutable', 'unknown')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    lease_until     TEXT,
    created_at      TEXT NOT NULL,
    sent_at         TEXT,
    platform_msg_id TEXT,
    last_error      TEXT,
    source          TEXT NOT NULL          -- what caused it, e.g. 'inbound:42', 'schedule:weekly_prompt'
);
-- The queue in id order per channel (claims scan it and stop early).
CREATE INDEX outbox_queue ON outbox(channel, status, id);
CREATE INDEX outbox_chat ON outbox(channel, chat_kind, chat_id, status);
CREATE INDEX outbox_sent ON outbox(channel, sent_at) WHERE status = 'sent';

CREATE TABLE schedules (
    id              INTEGER PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE,
    cron            TEXT NOT NULL,
    job             TEXT NOT NULL,
    params          TEXT NOT NULL DEFAULT '{}',
    workdays        TEXT NOT NULL DEFAULT 'fire' CHECK (workdays IN ('fire', 'skip', 'next', 'previous')),
    school_days_only INTEGER NOT NULL DEFAULT 0,
    grace_minutes   INTEGER NOT NULL,
    enabled         INTEGER NOT NULL DEFAULT 1,
    source          TEXT NOT NULL CHECK (source IN ('config', 'db')),
    cursor_at       TEXT NOT NULL,        -- nominal time of the last occurrence dealt with
    next_fire_at    TEXT,                 -- when the next firing is due (after calendar adjustment)
    updated_at      TEXT NOT NULL
);

-- One row per (schedule, nominal occurrence): the ledger that makes firings happen once.
CREATE TABLE firings (
    schedule_id     INTEGER NOT NULL REFERENCES schedules(id),
    nominal_at      TEXT NOT NULL,
    fire_at         TEXT,                 -- after working-day adjustment
    status          TEXT NOT NULL CHECK (status IN ('fired', 'skipped', 'failed')),
    reason          TEXT,
    recorded_at     TEXT NOT NULL,
    PRIMARY KEY (schedule_id, nominal_at)
);

CREATE TABLE leaves (
    id              INTEGER PRIMARY KEY,
    person_id       INTEGER NOT NULL REFERENCES people(id),
    start_date      TEXT NOT NULL,        -- local dates, inclusive
    end_date        TEXT NOT NULL,
    reason          TEXT,
    created_at      TEXT NOT NULL,
    cancelled_at    TEXT,
    CHECK (end_date >= start_date)
);
CREATE INDEX leaves_person ON leaves(person_id, end_date);
