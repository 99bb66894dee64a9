-- Every audit query orders by id and turns a time bound into an id bound (ids are
-- UUID v7, time-ordered: store/audit.rs, uuid_v7_floor), so the index on
-- (created_at, id) was never read. It was still written: one more B-tree (on SQLite
-- one more page in the write-ahead log per commit) for every audit row, and the audit
-- row is on the path of every token request.
DROP INDEX audit_log_time;
