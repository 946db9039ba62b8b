-- Photos uploaded with a visit record on the platform's form (督导纪实 H5), stored in the
-- evidence directory under their SHA-256 like rectification evidence.
CREATE TABLE visit_photos (
    id              INTEGER PRIMARY KEY,
    visit_id        INTEGER NOT NULL REFERENCES visits(id),
    sha256          TEXT NOT NULL,
    size            INTEGER NOT NULL,
    mime            TEXT NOT NULL,
    path            TEXT NOT NULL,             -- relative to the evidence directory
    created_at      TEXT NOT NULL,
    UNIQUE (visit_id, sha256)
);
CREATE INDEX visit_photos_visit ON visit_photos(visit_id);
