-- Files the outbox delivers (exports, bulletins). The bytes are stored once, referenced by the
-- outbox row that carries them; channels that cannot send files get a one-time download link
-- instead, of which only a hash of the token is kept. Retention deletes a file once nothing
-- still needs it (no undelivered row, no live link).
CREATE TABLE outbox_files (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    mime TEXT NOT NULL,
    size INTEGER NOT NULL,
    bytes BLOB NOT NULL,
    created_at TEXT NOT NULL
);

-- NULL for text (every row before this migration); the claim reads only this id, never the blob.
ALTER TABLE outbox ADD COLUMN file_id INTEGER REFERENCES outbox_files (id) ON DELETE SET NULL;
CREATE INDEX outbox_file ON outbox (file_id) WHERE file_id IS NOT NULL;

CREATE TABLE file_links (
    id INTEGER PRIMARY KEY,
    -- Hex SHA-256 of the token; the token itself exists only in the message that was sent.
    token_hash TEXT NOT NULL UNIQUE,
    -- NULL once the file is deleted: the link then still answers "gone", not "unknown".
    file_id INTEGER REFERENCES outbox_files (id) ON DELETE SET NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT
);
CREATE INDEX file_links_file ON file_links (file_id);
