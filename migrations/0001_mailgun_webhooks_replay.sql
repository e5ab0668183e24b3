-- The replay records of mailgun-webhooks' PgReplayStore (feature `postgres`).
-- Copy into your migrations folder (for example `sqlx migrate run`), or let the store create it:
-- PgReplayStore::builder(url).create_table(true). The statements are idempotent.
CREATE TABLE IF NOT EXISTS mailgun_webhooks_replay (
    key           BYTEA    NOT NULL PRIMARY KEY, -- Verified::replay_key, 32 bytes
    digest        BYTEA,                         -- the payload the triple is bound to
    state         SMALLINT NOT NULL,             -- 0 pending, 1 committed, 2 released/bound
    token         BIGINT   NOT NULL,             -- the pending reservation's id
    pending_until BIGINT   NOT NULL,             -- unix ms: a pending record lapses then
    expires_at    BIGINT   NOT NULL              -- unix ms: the record may be deleted then
);
CREATE INDEX IF NOT EXISTS mailgun_webhooks_replay_expires_at
    ON mailgun_webhooks_replay (expires_at);
