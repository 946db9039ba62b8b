-- Holiday calendars an office imports itself (`dudao calendar import FILE`), one row per year,
-- kept as the validated TOML text in the shipped format. At start-up a row replaces the shipped
-- or configured file of the same year, so the State Council notice can be entered without a
-- new release.
CREATE TABLE calendar_years (
    year         INTEGER PRIMARY KEY,
    toml         TEXT NOT NULL,
    imported_at  TEXT NOT NULL,
    imported_by  TEXT NOT NULL
);

-- The chat warning "no holiday data for <year>" sent to the administrators, at most once per
-- year per local day (period = "YYYY-MM-DD"), across restarts.
CREATE TABLE calendar_warnings (
    year       INTEGER NOT NULL,
    period     TEXT NOT NULL,
    warned_at  TEXT NOT NULL,
    PRIMARY KEY (year, period)
);
