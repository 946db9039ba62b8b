-- The supervision platform (督导信息平台): one-time login links sent in a private chat, and the
-- browser sessions they open. Only SHA-256 hashes of the link and session tokens are stored, so
-- the database never holds a usable credential.
CREATE TABLE web_login_links (
    token_hash  TEXT PRIMARY KEY,
    person_id   INTEGER NOT NULL REFERENCES people(id),
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT                          -- set once, by the one request that spends it
);
CREATE INDEX web_login_links_person ON web_login_links(person_id);

CREATE TABLE web_sessions (
    token_hash    TEXT PRIMARY KEY,
    person_id     INTEGER NOT NULL REFERENCES people(id),
    created_at    TEXT NOT NULL,
    last_seen_at  TEXT NOT NULL,              -- idle expiry counts from here
    expires_at    TEXT NOT NULL,              -- absolute expiry
    revoked_at    TEXT                        -- 退出登录, the logout button, or deactivation
);
CREATE INDEX web_sessions_person ON web_sessions(person_id) WHERE revoked_at IS NULL;

-- A person deactivated (a roster import, from the service or the CLI) loses their sessions and
-- unspent links at once.
CREATE TRIGGER web_sessions_end_on_deactivation AFTER UPDATE OF active ON people
WHEN NEW.active = 0 AND OLD.active <> 0
BEGIN
    UPDATE web_sessions SET revoked_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
     WHERE person_id = NEW.id AND revoked_at IS NULL;
    DELETE FROM web_login_links WHERE person_id = NEW.id AND used_at IS NULL;
END;
