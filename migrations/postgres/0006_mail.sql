-- Email: the durable outbox, one-time tokens sent by email (verification, "this
-- wasn't me"), login codes typed from an email, and API-key expiry notices.

-- A message is a row from the moment the event that causes it is committed (same
-- transaction) until the mail server accepted it. The parts carry one-time codes, so
-- they are sealed with the encryption key and dropped once the message is sent.
CREATE TABLE mail_outbox (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    user_id         TEXT REFERENCES users (id) ON DELETE SET NULL,
    subject         TEXT NOT NULL,
    body_sealed     BYTEA,
    message_id      TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_owner     TEXT,
    lease_until     BIGINT NOT NULL DEFAULT 0,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    sent_at         BIGINT
);
CREATE INDEX mail_outbox_due ON mail_outbox (status, next_attempt_at);
CREATE INDEX mail_outbox_created ON mail_outbox (created_at);

-- Single-use tokens mailed to a user: `verify_email` (for one address) and `not_me`.
CREATE TABLE user_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL,
    email      TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX user_tokens_user ON user_tokens (user_id);

-- A login code sent by email can also be typed: its short code's hash, and for a code
-- the user asked for, the hash of the cookie of the browser that asked.
ALTER TABLE login_codes ADD COLUMN short_code_hash TEXT;
ALTER TABLE login_codes ADD COLUMN browser_hash TEXT;
CREATE INDEX login_codes_short ON login_codes (short_code_hash);

ALTER TABLE api_keys ADD COLUMN expiry_notice_at BIGINT;
