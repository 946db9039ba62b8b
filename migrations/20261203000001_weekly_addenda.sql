-- Late addenda to on-time weekly reports (issue 14): after the round's deadline, an edit or a
-- further part from someone who reported on time does not replace the on-time version (whose
-- content the wrap-up already published); it is kept here and shown beside it, marked late.

CREATE TABLE weekly_report_addenda (
    id              INTEGER PRIMARY KEY,
    report_id       INTEGER NOT NULL REFERENCES weekly_reports(id),
    inbound_id      INTEGER NOT NULL REFERENCES inbound_messages(id),
    kind            TEXT NOT NULL CHECK (kind IN ('edit', 'part')), -- '修改/更正…' or a further part
    text            TEXT NOT NULL,             -- the message as received, verbatim
    parsed          TEXT NOT NULL,             -- JSON of this addendum's own parse
    at              TEXT NOT NULL
);
CREATE INDEX weekly_report_addenda_report ON weekly_report_addenda(report_id, id);
