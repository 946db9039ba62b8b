-- Monthly themes (一月一主题), visit records (督导纪实), problems found on visits (handed to the
-- rectification ledger later), theme reminder rounds and month-end reports (月汇报).

CREATE TABLE monthly_themes (
    id              INTEGER PRIMARY KEY,
    month           TEXT NOT NULL UNIQUE,      -- local 'YYYY-MM'
    code            TEXT,
    title           TEXT NOT NULL,
    description     TEXT NOT NULL DEFAULT '',
    indicators      TEXT NOT NULL DEFAULT '[]', -- JSON array of checklist items, in order
    categories      TEXT NOT NULL DEFAULT '[]', -- JSON array of problem categories 1..9
    source          TEXT NOT NULL CHECK (source IN ('chat', 'calendar')),
    published_by    INTEGER REFERENCES people(id),
    published_at    TEXT NOT NULL
);

-- Each reminder round of a theme happens once, across restarts.
CREATE TABLE theme_events (
    theme_id        INTEGER NOT NULL REFERENCES monthly_themes(id),
    event           TEXT NOT NULL,             -- 'remind:<day of month>'
    at              TEXT NOT NULL,
    PRIMARY KEY (theme_id, event)
);

CREATE TABLE visits (
    id              INTEGER PRIMARY KEY,
    person_id       INTEGER NOT NULL REFERENCES people(id),
    school_id       INTEGER REFERENCES schools(id), -- NULL only when not submitted
    visit_date      TEXT NOT NULL,             -- local 'YYYY-MM-DD'
    kind            TEXT NOT NULL,             -- visit_parse::VisitKind::as_str
    theme_id        INTEGER REFERENCES monthly_themes(id),
    themed          INTEGER NOT NULL DEFAULT 0,
    status          TEXT NOT NULL CHECK (status IN ('draft', 'submitted', 'abandoned')),
    pending_field   TEXT,                      -- the one follow-up question asked ('school', 'activity')
    parsed          TEXT NOT NULL,             -- JSON of visit_parse::ParsedVisit
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    CHECK (status <> 'submitted' OR school_id IS NOT NULL)
);
CREATE INDEX visits_person ON visits(person_id, visit_date);
CREATE INDEX visits_date ON visits(visit_date) WHERE status = 'submitted';

CREATE TABLE visit_parts (
    id              INTEGER PRIMARY KEY,
    visit_id        INTEGER NOT NULL REFERENCES visits(id),
    inbound_id      INTEGER NOT NULL REFERENCES inbound_messages(id),
    kind            TEXT NOT NULL,             -- 'text' or 'answer:<field>'
    text            TEXT NOT NULL,
    at              TEXT NOT NULL
);
CREATE INDEX visit_parts_visit ON visit_parts(visit_id);

CREATE TABLE visit_indicator_scores (
    visit_id        INTEGER NOT NULL REFERENCES visits(id),
    indicator       TEXT NOT NULL,             -- the reference as written
    indicator_no    INTEGER,                   -- 1-based item of the theme's checklist, when matched
    result          TEXT NOT NULL CHECK (result IN ('met', 'basically_met', 'not_met', 'not_applicable')),
    remark          TEXT
);
CREATE INDEX visit_indicator_scores_visit ON visit_indicator_scores(visit_id);

-- The seam to the rectification ledger: it takes rows with status 'new' and marks them 'taken'.
CREATE TABLE visit_problems (
    id              INTEGER PRIMARY KEY,
    visit_id        INTEGER NOT NULL REFERENCES visits(id),
    school_id       INTEGER NOT NULL REFERENCES schools(id),
    person_id       INTEGER NOT NULL REFERENCES people(id),
    description     TEXT NOT NULL,
    category        INTEGER NOT NULL CHECK (category BETWEEN 1 AND 9),
    follow_up       TEXT,                      -- visit_parse::FollowUp::as_str of the visit
    status          TEXT NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'taken')),
    created_at      TEXT NOT NULL
);
CREATE INDEX visit_problems_new ON visit_problems(status) WHERE status = 'new';

CREATE TABLE monthly_reports (
    id              INTEGER PRIMARY KEY,
    month           TEXT NOT NULL UNIQUE,      -- local 'YYYY-MM'
    figures         TEXT NOT NULL,             -- JSON of domain::monthly::MonthFigures
    text            TEXT NOT NULL,
    generated_at    TEXT NOT NULL,
    trigger         TEXT NOT NULL CHECK (trigger IN ('schedule', 'command'))
);
