-- Incremental weekly-report parsing (issue 15): the parse state of the current version, so a new
-- part folds into it instead of re-reading every earlier part. NULL (reports written before this
-- migration) or a state of another version means: rebuild it once from weekly_report_parts.

ALTER TABLE weekly_reports ADD COLUMN parse_state TEXT;            -- JSON of report_parse::WeeklyParts
ALTER TABLE weekly_reports ADD COLUMN parse_state_version INTEGER; -- the version parse_state is of
