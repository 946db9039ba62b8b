-- Organisation, identity, chat plumbing and the audit log.
-- Timestamps are TEXT in UTC, fixed format 'YYYY-MM-DDTHH:MM:SS.sssZ' (sortable as text).

CREATE TABLE regions (
    id          INTEGER PRIMARY KEY,
    code        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    level       TEXT NOT NULL CHECK (level IN ('province', 'city', 'county')),
    parent_id   INTEGER REFERENCES regions(id)
);

CREATE TABLE zones (
    id              INTEGER PRIMARY KEY,
    region_id       INTEGER NOT NULL REFERENCES regions(id),
    code            TEXT NOT NULL UNIQUE,
    name            TEXT NOT NULL UNIQUE,
    level           TEXT NOT NULL CHECK (level IN ('county', 'city')),
    leader_id       INTEGER REFERENCES people(id),
    active          INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE schools (
    id              INTEGER PRIMARY KEY,
    region_id       INTEGER NOT NULL REFERENCES regions(id),
    zone_id         INTEGER NOT NULL REFERENCES zones(id),
    code            TEXT NOT NULL UNIQUE,
    name            TEXT NOT NULL UNIQUE,
    short_name      TEXT,
    aliases         TEXT NOT NULL DEFAULT '[]',       -- JSON array of strings
    stage           TEXT NOT NULL,
    private         INTEGER NOT NULL DEFAULT 0,
    city_direct     INTEGER NOT NULL DEFAULT 0,
    boarding        INTEGER NOT NULL DEFAULT 0,
    active          INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX schools_zone ON schools(zone_id);

CREATE TABLE people (
    id              INTEGER PRIMARY KEY,
    code            TEXT NOT NULL UNIQUE,             -- the roster's 编号, stable across re-imports
    name            TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('admin', 'supervisor', 'inspector', 'school_contact')),
    title           TEXT,
    inspector_type  TEXT CHECK (inspector_type IN ('full_time', 'part_time', 'invited')),
    zone_id         INTEGER REFERENCES zones(id),
    school_id       INTEGER REFERENCES schools(id),
    phone           TEXT,
    active          INTEGER NOT NULL DEFAULT 1,
    CHECK (role <> 'inspector' OR inspector_type IS NOT NULL),
    CHECK (role <> 'school_contact' OR school_id IS NOT NULL)
);
CREATE UNIQUE INDEX people_phone ON people(phone) WHERE phone IS NOT NULL;

CREATE TABLE school_assignments (
    school_id            INTEGER NOT NULL REFERENCES schools(id),
    person_id            INTEGER NOT NULL REFERENCES people(id),
    role                 TEXT NOT NULL CHECK (role IN ('primary', 'secondary')),
    conflict_of_interest INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (school_id, person_id)
);
CREATE INDEX school_assignments_person ON school_assignments(person_id);

-- A person's account on a chat platform ('console', 'qq', 'wecom', 'telegram').
CREATE TABLE chat_accounts (
    platform        TEXT NOT NULL,
    account_id      TEXT NOT NULL,
    person_id       INTEGER NOT NULL REFERENCES people(id),
    source          TEXT NOT NULL CHECK (source IN ('roster', 'code')),
    display_name    TEXT,
    bound_at        TEXT NOT NULL,
    PRIMARY KEY (platform, account_id)
);
CREATE INDEX chat_accounts_person ON chat_accounts(person_id);

-- One-time binding codes; only a hash of the code is kept.
CREATE TABLE binding_codes (
    code_hash       TEXT PRIMARY KEY,
    person_id       INTEGER NOT NULL REFERENCES people(id),
    issued_at       TEXT NOT NULL,
    expires_at      TEXT NOT NULL,
    used_at         TEXT,
    used_by         TEXT                              -- 'platform:account'
);

-- Accounts we have told to bind, so they hear it once per quiet period.
CREATE TABLE unbound_hints (
    platform        TEXT NOT NULL,
    account_id      TEXT NOT NULL,
    last_hint_at    TEXT NOT NULL,
    PRIMARY KEY (platform, account_id)
);

CREATE TABLE chat_groups (
    id              INTEGER PRIMARY KEY,
    platform        TEXT NOT NULL,
    external_id     TEXT NOT NULL,
    channel         TEXT NOT NULL,                    -- the channel instance that last saw or registered it
    name            TEXT,
    purpose         TEXT CHECK (purpose IN ('county_inspectors', 'zone_inspectors', 'zone_schools', 'school', 'supervisors')),
    zone_id         INTEGER REFERENCES zones(id),
    school_id       INTEGER REFERENCES schools(id),
    registered_by   INTEGER REFERENCES people(id),
    registered_at   TEXT,
    UNIQUE (platform, external_id),
    CHECK (purpose NOT IN ('zone_inspectors', 'zone_schools') OR zone_id IS NOT NULL),
    CHECK (purpose <> 'school' OR school_id IS NOT NULL)
);

-- Every message a channel delivered to us, stored verbatim before anything acts on it.
CREATE TABLE inbound_messages (
    id              INTEGER PRIMARY KEY,
    channel         TEXT NOT NULL,
    platform        TEXT NOT NULL,
    platform_msg_id TEXT NOT NULL,
    chat_kind       TEXT NOT NULL CHECK (chat_kind IN ('group', 'private')),
    chat_id         TEXT NOT NULL,
    sender_id       TEXT NOT NULL,
    sender_name     TEXT,
    person_id       INTEGER REFERENCES people(id),
    text            TEXT NOT NULL,                    -- plain text of the message, verbatim
    segments        TEXT NOT NULL,                    -- JSON of the normalised segments
    to_me           INTEGER NOT NULL,
    reply_to        TEXT,                             -- platform id of the quoted message
    sent_at         TEXT NOT NULL,
    received_at     TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'received' CHECK (status IN ('received', 'processed', 'failed')),
    intent          TEXT,
    error           TEXT,
    UNIQUE (channel, platform_msg_id)
);
CREATE INDEX inbound_status ON inbound_messages(status) WHERE status = 'received';
CREATE INDEX inbound_person ON inbound_messages(person_id, received_at);

-- Who changed what, when, through which channel.
CREATE TABLE audit_log (
    id              INTEGER PRIMARY KEY,
    at              TEXT NOT NULL,
    actor_id        INTEGER REFERENCES people(id),
    via             TEXT NOT NULL,                    -- channel name, 'cli', 'system' or 'scheduler'
    entity          TEXT NOT NULL,
    entity_id       TEXT,
    action          TEXT NOT NULL,
    detail          TEXT                              -- JSON
);
CREATE INDEX audit_entity ON audit_log(entity, entity_id);
