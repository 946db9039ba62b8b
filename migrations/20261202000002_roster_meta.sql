-- Facts about the roster as a whole. Key 'sample_loaded' is written when the fictional sample
-- county is seeded into an empty database; the first real import removes the sample whole and
-- deletes the key. Its presence, never a guess from names or codes, is what marks sample data.
CREATE TABLE roster_meta (
    key     TEXT PRIMARY KEY,
    value   TEXT NOT NULL
);
