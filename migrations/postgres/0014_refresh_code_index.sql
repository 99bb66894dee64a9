-- A code used twice revokes every token its first use led to (store/grants.rs,
-- `revoke_issued_by_code`), and finds the refresh families by the code they came from.
-- Without an index that was a scan of every refresh token, twice, in a write
-- transaction: on SQLite, holding the one writer. And anyone holding a used code can
-- replay it as often as they like.
CREATE INDEX oidc_refresh_code ON oidc_refresh_tokens (code_hash);
