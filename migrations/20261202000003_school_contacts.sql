-- A school contact may serve several schools (rural 中心校 staff). people.school_id stays the
-- primary school; this table lists every school the contact serves, the primary included.
CREATE TABLE school_contacts (
    person_id   INTEGER NOT NULL REFERENCES people(id),
    school_id   INTEGER NOT NULL REFERENCES schools(id),
    PRIMARY KEY (person_id, school_id)
);
CREATE INDEX school_contacts_school ON school_contacts(school_id);

INSERT INTO school_contacts (person_id, school_id)
    SELECT id, school_id FROM people WHERE school_id IS NOT NULL;
