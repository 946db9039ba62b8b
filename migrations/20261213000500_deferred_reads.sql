-- Commands that only read (exports, statistics, charts) are answered outside the write
-- transaction. The message's processing transaction records it here; a reader builds the
-- answer on a read snapshot; a short write transaction then deletes the row and queues the
-- answer together, so each is answered once, and rows left by a crash are answered at start-up.
CREATE TABLE deferred_reads (
    inbound_id INTEGER PRIMARY KEY REFERENCES inbound_messages(id) ON DELETE CASCADE,
    created_at TEXT NOT NULL
);
