-- The ledger's figures (整改台账: total, open, closed on time/late, cancelled, rate) without
-- reading every item of a province.
--
-- One row per school counts its items in each status, closed ones split on time / late exactly
-- as the ledger counts them (on time: closed_late NULL or 0; late: closed_late = 1). A scope's
-- figures are the sum over its schools' rows (12,000 rows for a province instead of 300,000
-- items). Triggers keep the counts in the same transaction as every insert, update or delete of
-- `rectify_items` (the workflows, the sample purge, an administrator's hand edit); the backfill
-- below counts the items already recorded.
CREATE TABLE rectify_school_counts (
    school_id       INTEGER NOT NULL PRIMARY KEY REFERENCES schools(id),
    identified      INTEGER NOT NULL DEFAULT 0,
    notified        INTEGER NOT NULL DEFAULT 0,
    acknowledged    INTEGER NOT NULL DEFAULT 0,
    in_progress     INTEGER NOT NULL DEFAULT 0,
    submitted       INTEGER NOT NULL DEFAULT 0,
    verifying       INTEGER NOT NULL DEFAULT 0,
    closed_on_time  INTEGER NOT NULL DEFAULT 0,
    closed_late     INTEGER NOT NULL DEFAULT 0,
    closed_other    INTEGER NOT NULL DEFAULT 0,   -- closed with any other closed_late value
    cancelled       INTEGER NOT NULL DEFAULT 0
);

INSERT INTO rectify_school_counts (school_id, identified, notified, acknowledged, in_progress, submitted, verifying,
                                   closed_on_time, closed_late, closed_other, cancelled)
SELECT school_id,
       SUM(status = 'identified'), SUM(status = 'notified'), SUM(status = 'acknowledged'),
       SUM(status = 'in_progress'), SUM(status = 'submitted'), SUM(status = 'verifying'),
       SUM(status = 'closed' AND COALESCE(closed_late, 0) = 0), SUM(status = 'closed' AND COALESCE(closed_late, 0) = 1),
       SUM(status = 'closed' AND COALESCE(closed_late, 0) NOT IN (0, 1)), SUM(status = 'cancelled')
  FROM rectify_items
 GROUP BY school_id;

CREATE TRIGGER rectify_school_counts_insert
AFTER INSERT ON rectify_items
BEGIN
    INSERT OR IGNORE INTO rectify_school_counts (school_id) VALUES (NEW.school_id);
    UPDATE rectify_school_counts SET
        identified = identified + (NEW.status = 'identified'),
        notified = notified + (NEW.status = 'notified'),
        acknowledged = acknowledged + (NEW.status = 'acknowledged'),
        in_progress = in_progress + (NEW.status = 'in_progress'),
        submitted = submitted + (NEW.status = 'submitted'),
        verifying = verifying + (NEW.status = 'verifying'),
        closed_on_time = closed_on_time + (NEW.status = 'closed' AND COALESCE(NEW.closed_late, 0) = 0),
        closed_late = closed_late + (NEW.status = 'closed' AND COALESCE(NEW.closed_late, 0) = 1),
        closed_other = closed_other + (NEW.status = 'closed' AND COALESCE(NEW.closed_late, 0) NOT IN (0, 1)),
        cancelled = cancelled + (NEW.status = 'cancelled')
     WHERE school_id = NEW.school_id;
END;

CREATE TRIGGER rectify_school_counts_delete
AFTER DELETE ON rectify_items
BEGIN
    UPDATE rectify_school_counts SET
        identified = identified - (OLD.status = 'identified'),
        notified = notified - (OLD.status = 'notified'),
        acknowledged = acknowledged - (OLD.status = 'acknowledged'),
        in_progress = in_progress - (OLD.status = 'in_progress'),
        submitted = submitted - (OLD.status = 'submitted'),
        verifying = verifying - (OLD.status = 'verifying'),
        closed_on_time = closed_on_time - (OLD.status = 'closed' AND COALESCE(OLD.closed_late, 0) = 0),
        closed_late = closed_late - (OLD.status = 'closed' AND COALESCE(OLD.closed_late, 0) = 1),
        closed_other = closed_other - (OLD.status = 'closed' AND COALESCE(OLD.closed_late, 0) NOT IN (0, 1)),
        cancelled = cancelled - (OLD.status = 'cancelled')
     WHERE school_id = OLD.school_id;
END;

-- `save` rewrites every mutable field on each change: only a change of school, status or
-- closed_late moves a count.
CREATE TRIGGER rectify_school_counts_update
AFTER UPDATE OF school_id, status, closed_late ON rectify_items
WHEN OLD.school_id IS NOT NEW.school_id OR OLD.status IS NOT NEW.status OR OLD.closed_late IS NOT NEW.closed_late
BEGIN
    UPDATE rectify_school_counts SET
        identified = identified - (OLD.status = 'identified'),
        notified = notified - (OLD.status = 'notified'),
        acknowledged = acknowledged - (OLD.status = 'acknowledged'),
        in_progress = in_progress - (OLD.status = 'in_progress'),
        submitted = submitted - (OLD.status = 'submitted'),
        verifying = verifying - (OLD.status = 'verifying'),
        closed_on_time = closed_on_time - (OLD.status = 'closed' AND COALESCE(OLD.closed_late, 0) = 0),
        closed_late = closed_late - (OLD.status = 'closed' AND COALESCE(OLD.closed_late, 0) = 1),
        closed_other = closed_other - (OLD.status = 'closed' AND COALESCE(OLD.closed_late, 0) NOT IN (0, 1)),
        cancelled = cancelled - (OLD.status = 'cancelled')
     WHERE school_id = OLD.school_id;
    INSERT OR IGNORE INTO rectify_school_counts (school_id) VALUES (NEW.school_id);
    UPDATE rectify_school_counts SET
        identified = identified + (NEW.status = 'identified'),
        notified = notified + (NEW.status = 'notified'),
        acknowledged = acknowledged + (NEW.status = 'acknowledged'),
        in_progress = in_progress + (NEW.status = 'in_progress'),
        submitted = submitted + (NEW.status = 'submitted'),
        verifying = verifying + (NEW.status = 'verifying'),
        closed_on_time = closed_on_time + (NEW.status = 'closed' AND COALESCE(NEW.closed_late, 0) = 0),
        closed_late = closed_late + (NEW.status = 'closed' AND COALESCE(NEW.closed_late, 0) = 1),
        closed_other = closed_other + (NEW.status = 'closed' AND COALESCE(NEW.closed_late, 0) NOT IN (0, 1)),
        cancelled = cancelled + (NEW.status = 'cancelled')
     WHERE school_id = NEW.school_id;
END;

-- The open items by status and deadline: overdue counted (status awaiting the school, deadline
-- past) and the most overdue page chosen by a range over this index. Partial on the exact list
-- of open statuses, so only a query that names that list (`store::rectify`, county scope) can
-- use it: the school-scoped reads keep `rectify_items_school`.
CREATE INDEX rectify_items_open_deadline ON rectify_items(status, deadline)
 WHERE status IN ('identified', 'notified', 'acknowledged', 'in_progress', 'submitted', 'verifying');
