-- 信息报送 (issue 16, part 5): information items an office submits upward (to the provincial
-- portal or a newspaper). The rule is a count per month (`[info] per_month`), so queries range
-- over submitted_at; accepted is NULL until the receiver decides (1 采用, 0 未采用). No foreign
-- keys to people or zones: an item's record outlives its author (the sample purge removes people).
CREATE TABLE info_items (
    id              INTEGER PRIMARY KEY,
    title           TEXT NOT NULL,
    link            TEXT,                      -- a URL to the published item, if any
    body            TEXT,                      -- free text instead of (or besides) a link
    submitted_to    TEXT,                      -- where it went ("省督导网"), free text
    submitted_by    INTEGER,                   -- people.id
    zone_id         INTEGER,                   -- zones.id of the submitter, NULL: county office
    submitted_at    TEXT NOT NULL,
    accepted        INTEGER CHECK (accepted IN (0, 1)),
    accepted_at     TEXT,
    accepted_by     INTEGER,                   -- people.id
    note            TEXT
);

CREATE INDEX info_items_submitted_at ON info_items (submitted_at);
