-- Task assignment (督办): tasks, one assignment per assignee, the history of each, and which
-- outgoing messages concern which task (so quoting one in chat addresses that task).

-- The visible id is 'T' || id; AUTOINCREMENT so an id is never reused within a deployment.
CREATE TABLE tasks (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    title           TEXT NOT NULL,
    description     TEXT NOT NULL DEFAULT '',
    requires_result INTEGER NOT NULL DEFAULT 0,      -- 需提交材料: a completion must carry text or files
    targets         TEXT NOT NULL DEFAULT '[]',      -- JSON: what the creator typed (names, zones, schools)
    deadline_at     TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed', 'cancelled')),
    created_by      INTEGER NOT NULL REFERENCES people(id),
    created_at      TEXT NOT NULL,
    inbound_id      INTEGER REFERENCES inbound_messages(id),
    ended_at        TEXT,
    ended_by        INTEGER REFERENCES people(id),
    end_reason      TEXT
);
CREATE INDEX tasks_open ON tasks(status, deadline_at);

CREATE TABLE task_assignments (
    id              INTEGER PRIMARY KEY,
    task_id         INTEGER NOT NULL REFERENCES tasks(id),
    person_id       INTEGER NOT NULL REFERENCES people(id),
    state           TEXT NOT NULL DEFAULT 'assigned' CHECK (state IN
                        ('assigned', 'acknowledged', 'in_progress', 'submitted', 'approved', 'returned', 'cancelled', 'closed')),
    assigned_at     TEXT NOT NULL,
    acknowledged_at TEXT,
    ack_via         TEXT CHECK (ack_via IN ('command', 'quote', 'progress', 'submit')),
    progress_note   TEXT,
    progress_at     TEXT,
    result_text     TEXT,
    result_media    TEXT NOT NULL DEFAULT '[]',      -- JSON array of MediaRef (images, files)
    submitted_at    TEXT,
    submissions     INTEGER NOT NULL DEFAULT 0,
    return_reason   TEXT,
    returned_at     TEXT,
    reviewed_by     INTEGER REFERENCES people(id),
    approved_at     TEXT,
    ended_at        TEXT,                            -- cancelled, reassigned away or closed
    end_reason      TEXT,
    updated_at      TEXT NOT NULL
);
-- One live assignment per person and task; a reassigned-away one is kept as history.
CREATE UNIQUE INDEX task_assignments_live ON task_assignments(task_id, person_id) WHERE state <> 'cancelled';
CREATE INDEX task_assignments_person ON task_assignments(person_id, state);

-- Everything that happened to a task, with the text and files of each progress note and submission.
CREATE TABLE task_events (
    id              INTEGER PRIMARY KEY,
    task_id         INTEGER NOT NULL REFERENCES tasks(id),
    assignment_id   INTEGER REFERENCES task_assignments(id),
    actor_id        INTEGER REFERENCES people(id),
    kind            TEXT NOT NULL,                   -- created, assigned, acknowledged, progress, submitted, approved, returned, reassigned, extended, cancelled, closed
    body            TEXT,
    media           TEXT NOT NULL DEFAULT '[]',
    inbound_id      INTEGER REFERENCES inbound_messages(id),
    at              TEXT NOT NULL
);
CREATE INDEX task_events_task ON task_events(task_id, id);

-- Outgoing messages about a task, by outbox idempotency key (parts of a split message carry
-- '#n' after the key). The outbox row holds the platform message id once sent.
CREATE TABLE task_messages (
    outbox_key      TEXT PRIMARY KEY,
    task_id         INTEGER NOT NULL REFERENCES tasks(id),
    assignment_id   INTEGER REFERENCES task_assignments(id)
);

-- Replies quote by platform message id.
CREATE INDEX outbox_platform_msg ON outbox(channel, platform_msg_id) WHERE platform_msg_id IS NOT NULL;
