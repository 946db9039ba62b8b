-- Problem list and rectification ledger (清单工作法, 整改台账, 对账销号).
-- Every state change is a row in rectify_events: the ledger history that month-end
-- reconciliation (opening + new + reopened − closed − cancelled = closing) is computed from.

CREATE TABLE rectify_items (
    id              INTEGER PRIMARY KEY,          -- shown as W<id>
    school_id       INTEGER NOT NULL REFERENCES schools(id),
    category        INTEGER NOT NULL CHECK (category BETWEEN 1 AND 9),
    severity        TEXT NOT NULL CHECK (severity IN ('minor', 'general', 'serious', 'complex')),
    source          TEXT NOT NULL CHECK (source IN ('visit', 'self_check', 'complaint', 'direct')),
    source_ref      TEXT,                         -- e.g. 'visit_problem:12'
    description     TEXT NOT NULL,
    owner           TEXT NOT NULL DEFAULT 'school', -- 'school' or a bureau department's name
    deadline        TEXT NOT NULL,                -- local 'YYYY-MM-DD'
    status          TEXT NOT NULL CHECK (status IN ('identified', 'notified', 'acknowledged', 'in_progress',
                                                    'submitted', 'verifying', 'closed', 'cancelled')),
    returns         INTEGER NOT NULL DEFAULT 0,   -- times sent back (退回)
    relapses        INTEGER NOT NULL DEFAULT 0,   -- times reopened by 回头看
    extensions      INTEGER NOT NULL DEFAULT 0,
    created_by      INTEGER REFERENCES people(id),
    created_at      TEXT NOT NULL,
    closed_at       TEXT,
    closed_late     INTEGER,                      -- 1 when closed after the deadline
    updated_at      TEXT NOT NULL
);
CREATE INDEX rectify_items_school ON rectify_items(school_id, status);
CREATE INDEX rectify_items_open ON rectify_items(status) WHERE status NOT IN ('closed', 'cancelled');

CREATE TABLE rectify_events (
    id              INTEGER PRIMARY KEY,
    item_id         INTEGER NOT NULL REFERENCES rectify_items(id),
    action          TEXT NOT NULL,                -- domain::rectify::Action::as_str, or 'created'
    from_status     TEXT,
    to_status       TEXT NOT NULL,
    actor_id        INTEGER REFERENCES people(id),
    note            TEXT,
    deadline        TEXT,                         -- the deadline after the event
    at              TEXT NOT NULL,
    local_date      TEXT NOT NULL                 -- local 'YYYY-MM-DD', what reconciliation groups by
);
CREATE INDEX rectify_events_item ON rectify_events(item_id, id);
CREATE INDEX rectify_events_date ON rectify_events(local_date);

-- Photos sent with a completion report. Rows start 'pending' (the URL only, written in the
-- message's transaction); the fetcher downloads outside any transaction, then stores the file
-- under its hash. A second copy of the same photo on the same item is 'duplicate'.
CREATE TABLE rectify_evidence (
    id              INTEGER PRIMARY KEY,
    item_id         INTEGER NOT NULL REFERENCES rectify_items(id),
    event_id        INTEGER REFERENCES rectify_events(id),
    url             TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'stored', 'duplicate', 'failed')),
    sha256          TEXT,
    size            INTEGER,
    path            TEXT,                         -- relative to the evidence directory
    duplicate_of    INTEGER REFERENCES rectify_evidence(id),
    attempts        INTEGER NOT NULL DEFAULT 0,
    error           TEXT,
    created_at      TEXT NOT NULL,
    fetched_at      TEXT,
    UNIQUE (item_id, sha256)
);
CREATE INDEX rectify_evidence_pending ON rectify_evidence(status) WHERE status = 'pending';

-- Each escalation step of an item fires once, across restarts and racing sweeps.
-- level: 'L0:<deadline>:<days before>' (re-armed by an extension), 'L1', 'L2', 'L3'.
CREATE TABLE rectify_escalations (
    item_id         INTEGER NOT NULL REFERENCES rectify_items(id),
    level           TEXT NOT NULL,
    at              TEXT NOT NULL,
    UNIQUE (item_id, level)
);

-- The list method's first stage: a school's self-check list (shown as Z<id>) is reviewed by the
-- school's inspector (lines may be dropped), then confirmed by the office; confirmed lines become
-- problem items with source 'self_check'.
CREATE TABLE rectify_self_checks (
    id              INTEGER PRIMARY KEY,
    school_id       INTEGER NOT NULL REFERENCES schools(id),
    submitted_by    INTEGER NOT NULL REFERENCES people(id),
    status          TEXT NOT NULL CHECK (status IN ('submitted', 'reviewed', 'returned', 'confirmed')),
    reviewed_by     INTEGER REFERENCES people(id),
    confirmed_by    INTEGER REFERENCES people(id),
    note            TEXT,                         -- the reason of a return
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);

CREATE TABLE rectify_self_check_lines (
    id              INTEGER PRIMARY KEY,
    self_check_id   INTEGER NOT NULL REFERENCES rectify_self_checks(id),
    line_no         INTEGER NOT NULL,
    category        INTEGER NOT NULL CHECK (category BETWEEN 1 AND 9),
    severity        TEXT NOT NULL CHECK (severity IN ('minor', 'general', 'serious', 'complex')),
    description     TEXT NOT NULL,
    dropped         INTEGER NOT NULL DEFAULT 0,   -- removed by the reviewing inspector
    item_id         INTEGER REFERENCES rectify_items(id),
    UNIQUE (self_check_id, line_no)
);
