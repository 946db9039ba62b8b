-- 督导通报 (issue 16, part 3): a supervisor's corrections to a period's draft, per section, and
-- the record of each publication. A bulletin is identified by (kind, period, scope): kind
-- 'monthly', period '2026-11', scope 'county' or 'zone:<zones.id>'. No foreign keys to people:
-- the sample purge removes people, and a publication's record outlives its author.
CREATE TABLE bulletin_overrides (
    kind            TEXT NOT NULL,
    period          TEXT NOT NULL,
    scope           TEXT NOT NULL,
    section         TEXT NOT NULL,             -- 'basics', 'highlights', 'problems', 'requirements', 'list'
    body            TEXT NOT NULL,
    updated_by      INTEGER,                   -- people.id
    updated_at      TEXT NOT NULL,
    PRIMARY KEY (kind, period, scope, section)
);

-- One row per sending: revision 1 is the publication (通报 发布), later ones explicit re-sends
-- (通报 重新发布). The unique key is what makes a second 发布 of the same bulletin impossible.
CREATE TABLE bulletin_publications (
    id              INTEGER PRIMARY KEY,
    kind            TEXT NOT NULL,
    period          TEXT NOT NULL,
    scope           TEXT NOT NULL,
    revision        INTEGER NOT NULL,
    issue_no        INTEGER NOT NULL,          -- 第N期 of the period's year
    published_at    TEXT NOT NULL,
    published_by    INTEGER,                   -- people.id
    channels        TEXT NOT NULL,             -- JSON: [{"group_id", "channel", "chat_id", "name"}]
    title           TEXT NOT NULL,
    body            TEXT NOT NULL,             -- the full chat text as drafted
    UNIQUE (kind, period, scope, revision)
);
