-- Lookup keys for names and codes, beside the verbatim values kept for display.
-- A key is domain::text::normalize_key of its source column: NFKC (full-width → half-width),
-- all whitespace (including the ideographic space U+3000 used to align two-character names)
-- and zero-width characters removed, ASCII case-folded. "王　芳" → "王芳", "ＱＨ３" → "qh3".
--
-- SQLite cannot compute NFKC, so the keys are filled by Rust (store::keys::refresh), which
-- db::migrate runs right after the migrations: that is the backfill for existing rows, and it
-- runs again after every import. A NULL key means "not computed yet"; lookups then compare
-- the source column in Rust instead, so a NULL key is never a wrong answer.

ALTER TABLE people ADD COLUMN name_key TEXT;
ALTER TABLE people ADD COLUMN code_key TEXT;
ALTER TABLE schools ADD COLUMN name_key TEXT;
ALTER TABLE schools ADD COLUMN short_key TEXT;
ALTER TABLE schools ADD COLUMN code_key TEXT;
ALTER TABLE zones ADD COLUMN name_key TEXT;
ALTER TABLE zones ADD COLUMN code_key TEXT;

CREATE INDEX people_name_key ON people(name_key);
CREATE INDEX people_code_key ON people(code_key);
CREATE INDEX zones_name_key ON zones(name_key);
CREATE INDEX zones_code_key ON zones(code_key);

-- Whoever renames a row (the roster import, a future editor), its keys become "not computed"
-- rather than stale.
CREATE TRIGGER people_keys_stale AFTER UPDATE OF name, code ON people
    WHEN NEW.name IS NOT OLD.name OR NEW.code IS NOT OLD.code
BEGIN
    UPDATE people SET name_key = NULL, code_key = NULL WHERE id = NEW.id;
END;

CREATE TRIGGER schools_keys_stale AFTER UPDATE OF name, short_name, code ON schools
    WHEN NEW.name IS NOT OLD.name OR NEW.short_name IS NOT OLD.short_name OR NEW.code IS NOT OLD.code
BEGIN
    UPDATE schools SET name_key = NULL, short_key = NULL, code_key = NULL WHERE id = NEW.id;
END;

CREATE TRIGGER zones_keys_stale AFTER UPDATE OF name, code ON zones
    WHEN NEW.name IS NOT OLD.name OR NEW.code IS NOT OLD.code
BEGIN
    UPDATE zones SET name_key = NULL, code_key = NULL WHERE id = NEW.id;
END;
