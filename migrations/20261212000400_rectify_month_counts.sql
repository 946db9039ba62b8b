-- Month-end reconciliation (整改对账) from monthly counts instead of the whole event history.
--
-- Each row counts one school's ledger events of one month (the event's local date): items
-- recorded, reopened (回头看), closed (销号, on site or after verification) and cancelled. The
-- reconciliation sums these per zone or for the county and carries the open balance forward,
-- so its cost follows schools × months, not the millions of events a province accumulates.
-- Triggers keep the counts in the same transaction as the event; the backfill below counts the
-- events already recorded.
CREATE TABLE rectify_month_counts (
    school_id   INTEGER NOT NULL REFERENCES schools(id),
    month       TEXT NOT NULL,                 -- YYYY-MM
    new         INTEGER NOT NULL DEFAULT 0,
    reopened    INTEGER NOT NULL DEFAULT 0,
    closed      INTEGER NOT NULL DEFAULT 0,
    cancelled   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (school_id, month)
) WITHOUT ROWID;
CREATE INDEX rectify_month_counts_month ON rectify_month_counts(month);

INSERT INTO rectify_month_counts (school_id, month, new, reopened, closed, cancelled)
SELECT i.school_id, substr(e.local_date, 1, 7),
       SUM(e.action = 'created'), SUM(e.action = 'reopened'),
       SUM(e.action IN ('closed', 'closed_on_site')), SUM(e.action = 'cancelled')
  FROM rectify_events e JOIN rectify_items i ON i.id = e.item_id
 WHERE e.action IN ('created', 'reopened', 'closed', 'closed_on_site', 'cancelled')
 GROUP BY i.school_id, substr(e.local_date, 1, 7);

CREATE TRIGGER rectify_month_counts_insert
AFTER INSERT ON rectify_events
WHEN NEW.action IN ('created', 'reopened', 'closed', 'closed_on_site', 'cancelled')
BEGIN
    INSERT INTO rectify_month_counts (school_id, month, new, reopened, closed, cancelled)
    SELECT i.school_id, substr(NEW.local_date, 1, 7),
           NEW.action = 'created', NEW.action = 'reopened',
           NEW.action IN ('closed', 'closed_on_site'), NEW.action = 'cancelled'
      FROM rectify_items i WHERE i.id = NEW.item_id
    ON CONFLICT (school_id, month) DO UPDATE SET
        new = new + excluded.new,
        reopened = reopened + excluded.reopened,
        closed = closed + excluded.closed,
        cancelled = cancelled + excluded.cancelled;
END;

-- Events are never edited or deleted by the workflows; these keep the counts true if an
-- administrator ever does it by hand.
CREATE TRIGGER rectify_month_counts_delete
AFTER DELETE ON rectify_events
WHEN OLD.action IN ('created', 'reopened', 'closed', 'closed_on_site', 'cancelled')
BEGIN
    UPDATE rectify_month_counts SET
        new = new - (OLD.action = 'created'),
        reopened = reopened - (OLD.action = 'reopened'),
        closed = closed - (OLD.action IN ('closed', 'closed_on_site')),
        cancelled = cancelled - (OLD.action = 'cancelled')
     WHERE school_id = (SELECT school_id FROM rectify_items WHERE id = OLD.item_id)
       AND month = substr(OLD.local_date, 1, 7);
END;

CREATE TRIGGER rectify_month_counts_update
AFTER UPDATE OF item_id, action, local_date ON rectify_events
BEGIN
    UPDATE rectify_month_counts SET
        new = new - (OLD.action = 'created'),
        reopened = reopened - (OLD.action = 'reopened'),
        closed = closed - (OLD.action IN ('closed', 'closed_on_site')),
        cancelled = cancelled - (OLD.action = 'cancelled')
     WHERE school_id = (SELECT school_id FROM rectify_items WHERE id = OLD.item_id)
       AND month = substr(OLD.local_date, 1, 7);
    INSERT INTO rectify_month_counts (school_id, month, new, reopened, closed, cancelled)
    SELECT i.school_id, substr(NEW.local_date, 1, 7),
           NEW.action = 'created', NEW.action = 'reopened',
           NEW.action IN ('closed', 'closed_on_site'), NEW.action = 'cancelled'
      FROM rectify_items i
     WHERE i.id = NEW.item_id
       AND NEW.action IN ('created', 'reopened', 'closed', 'closed_on_site', 'cancelled')
    ON CONFLICT (school_id, month) DO UPDATE SET
        new = new + excluded.new,
        reopened = reopened + excluded.reopened,
        closed = closed + excluded.closed,
        cancelled = cancelled + excluded.cancelled;
END;
