-- Escalations sent in a period are read by time (`store::stats::rectify_rows`): without this
-- index every statistics and bulletin read scanned the whole once-ledger.
CREATE INDEX once_events_kind_at ON once_events(subject_kind, at);

-- The ledger's counts of finished items (`store::rectify::finished_summary`) read only these
-- columns of closed and cancelled items: a covering index halves that read at province scale.
CREATE INDEX rectify_items_finished ON rectify_items(status, closed_late, created_at, closed_at)
    WHERE status IN ('closed', 'cancelled');
