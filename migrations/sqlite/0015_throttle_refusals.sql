-- Requests refused while a key is locked are counted here, not written one audit row
-- each: the audit log gets a row at the 1st, 10th, 100th … refusal of a lock.
ALTER TABLE auth_throttle ADD COLUMN refused INTEGER NOT NULL DEFAULT 0;
