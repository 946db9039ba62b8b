-- Visits of a school by date: `督导进度 <责任区>` reads a zone's school visits for the school year
-- without scanning a province's (migration 20261212000400 explains the province scale).
CREATE INDEX visits_school ON visits(school_id, visit_date) WHERE status = 'submitted';
