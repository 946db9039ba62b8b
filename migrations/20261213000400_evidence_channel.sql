-- Evidence photos from platforms that hand out file ids instead of links (Telegram file_id,
-- WeCom MediaId, OneBot image file names without a URL): the fetcher asks the channel that
-- received the photo to download it. `channel` is that channel's instance name (rows written
-- before this migration have none: they all carry a URL); `file_id` is the platform's id of
-- the file (not a credential: it is useless without the bot token or app secret, which are
-- never stored). A row with only a file id has an empty `url`.
ALTER TABLE rectify_evidence ADD COLUMN channel TEXT;
ALTER TABLE rectify_evidence ADD COLUMN file_id TEXT;
