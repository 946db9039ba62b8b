-- 月汇报 reads each visit's problems by visit id; without this index every lookup scanned the
-- whole table (issue 16: 42–54 s for a province month, ~12,000 lookups).
CREATE INDEX visit_problems_visit ON visit_problems(visit_id);
