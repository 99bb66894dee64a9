-- Per client: the grant types it may use and the scopes it may be given, as JSON lists
-- of their RFC names. NULL: the defaults of before (every grant the client's type
-- allows, every standard scope), so that existing clients keep working.
ALTER TABLE oidc_clients ADD COLUMN grant_types TEXT;
ALTER TABLE oidc_clients ADD COLUMN scopes TEXT;
