-- Escalations sent in a period are read by time (`store::stats::rectify_rows`): without this
-- index every statistics and bulletin read scanned the whole once-ledger. Covering (the subject
-- and event too): a province's half-year holds ~100,000 escalation steps, and a lookup into the
-- table for each costs more than the scan it replaces.
CREATE INDEX once_events_kind_at ON once_events(subject_kind, at, subject_id, event);
