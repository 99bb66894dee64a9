-- How strongly a person must have signed in to use an OIDC client (domain/access.rs,
-- the rule proxied applications follow too): any, two-factor or passkey; and how old
-- that sign-in may be (seconds; NULL: as long as the session lasts).
ALTER TABLE oidc_clients ADD COLUMN require_strength TEXT NOT NULL DEFAULT 'any';
ALTER TABLE oidc_clients ADD COLUMN max_session_age BIGINT;
