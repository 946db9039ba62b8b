-- The messages still to send, per chat in queue order: the head of each chat (the one that
-- may go next) is found without reading the delivered history.
CREATE INDEX outbox_open ON outbox(channel, chat_kind, chat_id, id) WHERE status IN ('pending', 'sending');
