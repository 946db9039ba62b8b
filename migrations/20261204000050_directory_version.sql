-- A counter every change to the roster, bindings or groups bumps, so the service's in-memory
-- directory snapshot (who an account is, which groups are known) notices writes from any
-- process - the CLI, an import, another instance - with one point read per message.
CREATE TABLE directory_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO directory_version (id, version) VALUES (1, 1);

CREATE TRIGGER regions_insert_bumps_directory AFTER INSERT ON regions
BEGIN
    UPDATE directory_version SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER regions_update_bumps_directory AFTER UPDATE ON regions
BEGIN
    UPDATE directory_version SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER regions_delete_bumps_directory AFTER DELETE ON regions
BEGIN
    UPDATE directory_version SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER zones_insert_bumps_directory AFTER INSERT ON zones
BEGIN
    UPDATE directory_version SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER zones_update_bumps_directory AFTER UPDATE ON zones
BEGIN
    UPDATE directory_version SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER zones_delete_bumps_directory AFTER DELETE ON zones
BEGIN
    UPDATE directory_version SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER schools_insert_bumps_directory AFTER INSERT ON schools
BEGIN
    UPDATE directory_version SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER schools_update_bumps_directory AFTER UPDATE ON schools
BEGIN
    UPDATE directory_version SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER schools_delete_bumps_directory AFTER DELETE ON schools
BEGIN
    UPDATE directory_version SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER people_insert_bumps_directory AFTER INSERT ON people
BEGIN
    UPDATE directory_version SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER people_update_bumps_directory AFTER UPDATE ON people
BEGIN
    UPDATE directory_version SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER people_delete_bumps_directory AFTER DELETE ON people
BEGIN
    UPDATE directory_version SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER school_assignments_insert_bumps_directory AFTER INSERT ON school_assignments
BEGIN
    UPDATE directory_version SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER school_assignments_update_bumps_directory AFTER UPDATE ON school_assignments
BEGIN
    UPDATE directory_version SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER school_assignments_delete_bumps_directory AFTER DELETE ON school_assignments
BEGIN
    UPDATE directory_version SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER school_contacts_insert_bumps_directory AFTER INSERT ON school_contacts
BEGIN
    UPDATE directory_version SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER school_contacts_update_bumps_directory AFTER UPDATE ON school_contacts
BEGIN
    UPDATE directory_version SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER school_contacts_delete_bumps_directory AFTER DELETE ON school_contacts
BEGIN
    UPDATE directory_version SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER chat_accounts_insert_bumps_directory AFTER INSERT ON chat_accounts
BEGIN
    UPDATE directory_version SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER chat_accounts_update_bumps_directory AFTER UPDATE ON chat_accounts
BEGIN
    UPDATE directory_version SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER chat_accounts_delete_bumps_directory AFTER DELETE ON chat_accounts
BEGIN
    UPDATE directory_version SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER chat_groups_insert_bumps_directory AFTER INSERT ON chat_groups
BEGIN
    UPDATE directory_version SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER chat_groups_update_bumps_directory AFTER UPDATE ON chat_groups
BEGIN
    UPDATE directory_version SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER chat_groups_delete_bumps_directory AFTER DELETE ON chat_groups
BEGIN
    UPDATE directory_version SET version = version + 1 WHERE id = 1;
END;
