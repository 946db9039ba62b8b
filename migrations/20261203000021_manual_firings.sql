-- An occurrence run by hand (`dudao schedules run NAME`, `发起周报`) is recorded in the firings
-- ledger like a scheduled one, under the nominal time of the period it stands for, so the regular
-- firing of that occurrence finds it recorded and does not run again.
ALTER TABLE firings ADD COLUMN manual_by TEXT;   -- 'cli' or 'chat:<person code>'; NULL: the scheduler
