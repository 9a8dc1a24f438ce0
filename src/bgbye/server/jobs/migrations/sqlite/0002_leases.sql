-- Leases: any worker may claim a pending item; an expired lease puts it back in the queue.
ALTER TABLE items ADD COLUMN lease_owner TEXT;
ALTER TABLE items ADD COLUMN lease_until REAL;
ALTER TABLE items ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE items ADD COLUMN completions INTEGER NOT NULL DEFAULT 0;
ALTER TABLE items ADD COLUMN done_by TEXT;
CREATE INDEX IF NOT EXISTS items_pending ON items (state, lease_until);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, created);
