-- Supervisor notices (通知): one row per notice, one per recipient with their acknowledgement.
-- The visible id is 'N' || id; AUTOINCREMENT so an id is never reused within a deployment.
CREATE TABLE notices (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    body            TEXT NOT NULL,                   -- verbatim, as the recipients read it
    targets         TEXT NOT NULL DEFAULT '[]',      -- JSON: what the sender typed (names, zones, schools)
    receipt         INTEGER NOT NULL DEFAULT 0,      -- 回执: recipients are asked to acknowledge
    created_by      INTEGER NOT NULL REFERENCES people(id),
    created_at      TEXT NOT NULL,
    inbound_id      INTEGER REFERENCES inbound_messages(id)
);

CREATE TABLE notice_recipients (
    id              INTEGER PRIMARY KEY,
    notice_id       INTEGER NOT NULL REFERENCES notices(id),
    person_id       INTEGER NOT NULL REFERENCES people(id),
    -- The outbox key of the copy sent to this person (parts of a split message add '#n'); a reply
    -- quoting that copy acknowledges the notice.
    outbox_key      TEXT NOT NULL UNIQUE,
    acked_at        TEXT,
    ack_via         TEXT CHECK (ack_via IN ('command', 'quote')),
    UNIQUE (notice_id, person_id)
);
CREATE INDEX notice_recipients_person ON notice_recipients(person_id, acked_at);
