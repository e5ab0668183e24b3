-- The replay records of mailgun-webhooks' PgReplayStore (feature `postgres`).
-- Copy into your migrations folder (for example `sqlx migrate run`), or let the store create it:
-- PgReplayStore::builder(url).create_table(true). The statements are idempotent.
CREATE TABLE IF NOT EXISTS mailgun_webhooks_replay (
    key           BYTEA    NOT NULL PRIMARY KEY, -- Verified::replay_key, 32 bytes
    digest        BYTEA,                         -- the payload the triple is bound to
    state         SMALLINT NOT NULL,             -- 0 pending, 1 committed, 2 released/bound, 3 epoch
    token         BIGINT   NOT NULL,             -- the pending reservation's id
    pending_until BIGINT   NOT NULL,             -- unix ms: a pending record lapses then
    expires_at    BIGINT   NOT NULL              -- unix ms: the record may be deleted then
);
CREATE INDEX IF NOT EXISTS mailgun_webhooks_replay_expires_at
    ON mailgun_webhooks_replay (expires_at);
-- The table's epoch marker: its records are complete since this moment (unix ms). If the table
-- is emptied or recreated, the marker goes with the records and the store starts a new epoch,
-- refusing (by default) deliveries signed before it, which it can no longer prove unseen.
INSERT INTO mailgun_webhooks_replay (key, digest, state, token, pending_until, expires_at)
VALUES ('\x82e3fab5d6d6d97df9167275bfcac2e2a5e39f5ec1191f0b21220689e5ac583b', NULL, 3, 0,
        (extract(epoch FROM clock_timestamp()) * 1000)::bigint, 9223372036854775807)
ON CONFLICT (key) DO NOTHING;
