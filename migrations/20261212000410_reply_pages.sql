-- Long answers go out a page at a time (a province's 督导进度, a long ledger): the pages wait
-- here for the same account's `更多` in the same chat. One row per (chat, account): a new long
-- answer replaces the previous one's pages.
CREATE TABLE reply_pages (
    channel     TEXT NOT NULL,
    chat_kind   TEXT NOT NULL,
    chat_id     TEXT NOT NULL,
    account_id  TEXT NOT NULL,
    pages       TEXT NOT NULL,              -- JSON array of every page's text
    sent        INTEGER NOT NULL,           -- pages sent so far (the next is pages[sent])
    created_at  TEXT NOT NULL,
    PRIMARY KEY (channel, chat_kind, chat_id, account_id)
);
