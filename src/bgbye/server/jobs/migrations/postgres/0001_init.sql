-- Jobs and their items; an item is leased by the replica working on it.
CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed', 'expired')),
    engine TEXT NOT NULL,
    options TEXT NOT NULL,
    reason TEXT,
    created DOUBLE PRECISION NOT NULL,
    updated DOUBLE PRECISION NOT NULL,
    finished DOUBLE PRECISION
);
CREATE INDEX jobs_state ON jobs (state, created);

CREATE TABLE items (
    job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    name TEXT NOT NULL,
    output TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'done', 'failed')),
    error_code TEXT,
    error_message TEXT,
    lease_owner TEXT,
    lease_until DOUBLE PRECISION,
    attempts INTEGER NOT NULL DEFAULT 0,
    completions INTEGER NOT NULL DEFAULT 0 CHECK (completions <= 1),
    done_by TEXT,
    PRIMARY KEY (job_id, idx)
);
CREATE INDEX items_pending ON items (job_id, idx) WHERE state = 'pending';
