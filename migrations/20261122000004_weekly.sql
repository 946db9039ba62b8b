-- Weekly reports (周交流): rounds with a frozen list of who must report, reports with every raw
-- message part kept, and the events (reminders, wrap-up) each round has had.

CREATE TABLE weekly_rounds (
    id              INTEGER PRIMARY KEY,
    week            TEXT NOT NULL,            -- ISO week in local time, e.g. '2026-W48'
    scope           TEXT NOT NULL,            -- 'group:<chat_groups.id>' or 'private'
    group_id        INTEGER REFERENCES chat_groups(id),
    opened_at       TEXT NOT NULL,
    deadline_at     TEXT NOT NULL,
    closed_at       TEXT,
    UNIQUE (week, scope)
);

CREATE TABLE weekly_members (
    round_id        INTEGER NOT NULL REFERENCES weekly_rounds(id),
    person_id       INTEGER NOT NULL REFERENCES people(id),
    excluded        TEXT CHECK (excluded IN ('leave', 'exempt')),
    PRIMARY KEY (round_id, person_id)
);
CREATE INDEX weekly_members_person ON weekly_members(person_id);

CREATE TABLE weekly_reports (
    id              INTEGER PRIMARY KEY,
    round_id        INTEGER NOT NULL REFERENCES weekly_rounds(id),
    person_id       INTEGER NOT NULL REFERENCES people(id),
    version         INTEGER NOT NULL DEFAULT 1,
    first_at        TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    late            INTEGER NOT NULL DEFAULT 0,
    pending_question TEXT,                     -- the section the one follow-up question asked for
    asked           INTEGER NOT NULL DEFAULT 0,
    parsed          TEXT NOT NULL,             -- JSON of the current version's parse
    UNIQUE (round_id, person_id)
);

-- Every message that made up a report, verbatim, by version (edits start a new version).
CREATE TABLE weekly_report_parts (
    id              INTEGER PRIMARY KEY,
    report_id       INTEGER NOT NULL REFERENCES weekly_reports(id),
    inbound_id      INTEGER NOT NULL REFERENCES inbound_messages(id),
    version         INTEGER NOT NULL,
    kind            TEXT NOT NULL,             -- 'text' or 'answer:<section>'
    text            TEXT NOT NULL,
    at              TEXT NOT NULL
);
CREATE INDEX weekly_report_parts_report ON weekly_report_parts(report_id, version);

CREATE TABLE weekly_round_events (
    round_id        INTEGER NOT NULL REFERENCES weekly_rounds(id),
    event           TEXT NOT NULL,             -- 'remind:<i>', 'wrapup'
    at              TEXT NOT NULL,
    PRIMARY KEY (round_id, event)
);
