-- Failed firings are retried within their grace window: the ledger row (still one per
-- occurrence) counts the attempts and holds when the next one is due.
ALTER TABLE firings ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE firings ADD COLUMN retry_at TEXT;   -- next attempt of a 'failed' firing; NULL once final
CREATE INDEX firings_retry ON firings(retry_at) WHERE retry_at IS NOT NULL;
