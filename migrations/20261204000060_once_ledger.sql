-- One "record this event once" ledger replaces the four per-workflow tables (issue 15, step 5):
-- a subject (kind and id, named in one place: src/store/once.rs) and an event, recorded at most
-- once across restarts. The subject has no foreign key, so whoever deletes subjects (the sample
-- purge) deletes their ledger rows too.
CREATE TABLE once_events (
    subject_kind    TEXT NOT NULL,             -- 'weekly_round', 'theme', 'rectify_item', 'calendar_year'
    subject_id      INTEGER NOT NULL,
    event           TEXT NOT NULL,             -- e.g. 'remind:0', 'wrapup', 'L1', a local date
    at              TEXT NOT NULL,
    PRIMARY KEY (subject_kind, subject_id, event)
);

INSERT INTO once_events (subject_kind, subject_id, event, at)
    SELECT 'weekly_round', round_id, event, at FROM weekly_round_events ORDER BY rowid;
INSERT INTO once_events (subject_kind, subject_id, event, at)
    SELECT 'theme', theme_id, event, at FROM theme_events ORDER BY rowid;
INSERT INTO once_events (subject_kind, subject_id, event, at)
    SELECT 'rectify_item', item_id, level, at FROM rectify_escalations ORDER BY rowid;
INSERT INTO once_events (subject_kind, subject_id, event, at)
    SELECT 'calendar_year', year, period, warned_at FROM calendar_warnings ORDER BY rowid;

DROP TABLE weekly_round_events;
DROP TABLE theme_events;
DROP TABLE rectify_escalations;
DROP TABLE calendar_warnings;

-- Read-only views under the old names of the two tables that reports and tests still read.
-- `rowid` is exposed so "ORDER BY rowid" keeps meaning the order the events happened in.
CREATE VIEW rectify_escalations AS
    SELECT rowid AS rowid, subject_id AS item_id, event AS level, at
      FROM once_events WHERE subject_kind = 'rectify_item';
CREATE VIEW calendar_warnings AS
    SELECT subject_id AS year, event AS period, at AS warned_at
      FROM once_events WHERE subject_kind = 'calendar_year';
