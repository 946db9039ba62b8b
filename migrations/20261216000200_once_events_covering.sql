-- Replaces two indexes of 20261215000300_once_events_by_time.sql (released; never edited).
--
-- The escalations of a period are read by time with their subject and event
-- (`store::stats::rectify_rows`): covering, since a province's half-year holds ~100,000
-- escalation steps and a lookup into the table for each costs more than the scan it replaces.
DROP INDEX IF EXISTS once_events_kind_at;
CREATE INDEX once_events_kind_at ON once_events(subject_kind, at, subject_id, event);

-- The finished-items index made a zone's ledger counts scan the province's finished items
-- (`整改台账 P001` 11 → 800 ms); the ledger now reads kept counts (20261216000100).
DROP INDEX IF EXISTS rectify_items_finished;
