package relay

import "github.com/oclcbot/oclcbot/db"

// Component is the name under which the relay migrates its tables in the
// shared database.
const Component = "relay"

// migrations are the relay's tables. Times are Unix nanoseconds (0 =
// never), as in the export log.
//
// relay_queue holds every record the relay could not hand to the
// upstream at once, in arrival order (id), from the moment the cataloger
// was told it was queued until long after it was delivered or dropped:
// rows are never deleted before Config.Retention, so "what happened to
// the record queued at 10:42" always has an answer. A row never holds a
// password: fwd_local_user keeps only the part of the A field before its
// first space, and the cataloger's password lives in memory only.
//
// relay_seen remembers what went to the upstream (or into the queue)
// within the repeated-export window, for the duplicate policy.
//
// Version 2 adds the held state (a record the upstream refused on its
// own merits, set aside so that the records behind it go on) and its
// columns. SQLite cannot change a CHECK constraint in place, so it
// rebuilds relay_queue, and relay_seen with it: dropping the old
// relay_queue while relay_seen still pointed at it would set every
// relay_seen.queue_id to NULL (ON DELETE SET NULL). The AUTOINCREMENT
// high-water mark is carried over, so that queue IDs are never reused.
var migrations = []db.Migration{{Version: 1, SQL: `
CREATE TABLE relay_queue (
	id              INTEGER PRIMARY KEY AUTOINCREMENT, -- queue order; never reused
	queue           TEXT NOT NULL,    -- Config.QueueName
	state           TEXT NOT NULL CHECK (state IN ('queued', 'sending', 'uncertain', 'delivered', 'dropped')),
	request_id      INTEGER NOT NULL, -- gateway.Request.ID of the export
	record_index    INTEGER NOT NULL, -- position of the record in its request
	received_ns     INTEGER NOT NULL, -- when the export's first byte arrived
	queued_ns       INTEGER NOT NULL,
	remote_addr     TEXT NOT NULL,
	user_name       TEXT NOT NULL,    -- the authenticated login
	fwd_user        TEXT NOT NULL,    -- U field to forward
	fwd_local_user  TEXT NOT NULL,    -- A field to forward, without its secret part
	oclc            TEXT NOT NULL,
	title           TEXT NOT NULL,
	hash            TEXT NOT NULL,
	record          BLOB NOT NULL,    -- the bytes forwarded
	cause           TEXT NOT NULL,    -- exportlog.Cause* that queued it
	attempts        INTEGER NOT NULL DEFAULT 0,
	last_error      TEXT NOT NULL DEFAULT '',
	last_attempt_ns INTEGER NOT NULL DEFAULT 0,
	next_attempt_ns INTEGER NOT NULL DEFAULT 0,
	upstream_reply  TEXT NOT NULL DEFAULT '',
	system_number   TEXT NOT NULL DEFAULT '',
	done_ns         INTEGER NOT NULL DEFAULT 0, -- delivered or dropped
	drop_reason     TEXT NOT NULL DEFAULT '',
	logged          INTEGER NOT NULL DEFAULT 0, -- the delivered/dropped event is in the export log
	owner           TEXT NOT NULL DEFAULT ''    -- the process that set it sending (Relay instance)
);
CREATE INDEX relay_queue_pending ON relay_queue (queue, id) WHERE state IN ('queued', 'sending');
CREATE INDEX relay_queue_state ON relay_queue (queue, state, id);
CREATE INDEX relay_queue_unlogged ON relay_queue (queue, id) WHERE logged = 0 AND state IN ('delivered', 'dropped');
CREATE INDEX relay_queue_done ON relay_queue (done_ns) WHERE done_ns <> 0;

CREATE TABLE relay_seen (
	id            INTEGER PRIMARY KEY,
	queue         TEXT NOT NULL,
	oclc          TEXT NOT NULL,
	hash          TEXT NOT NULL,
	time_ns       INTEGER NOT NULL, -- when that export was received
	system_number TEXT NOT NULL DEFAULT '',
	queue_id      INTEGER REFERENCES relay_queue (id) ON DELETE SET NULL -- when it went through the queue
);
CREATE INDEX relay_seen_key ON relay_seen (queue, hash, oclc, time_ns);
CREATE INDEX relay_seen_time ON relay_seen (time_ns);
CREATE INDEX relay_seen_queue ON relay_seen (queue_id) WHERE queue_id IS NOT NULL;
`}, {Version: 2, SQL: `
CREATE TABLE relay_queue_v2 (
	id              INTEGER PRIMARY KEY AUTOINCREMENT, -- queue order; never reused
	queue           TEXT NOT NULL,    -- Config.QueueName
	state           TEXT NOT NULL CHECK (state IN ('queued', 'sending', 'uncertain', 'held', 'delivered', 'dropped')),
	request_id      INTEGER NOT NULL, -- gateway.Request.ID of the export
	record_index    INTEGER NOT NULL, -- position of the record in its request
	received_ns     INTEGER NOT NULL, -- when the export's first byte arrived
	queued_ns       INTEGER NOT NULL,
	remote_addr     TEXT NOT NULL,
	user_name       TEXT NOT NULL,    -- the authenticated login
	fwd_user        TEXT NOT NULL,    -- U field to forward
	fwd_local_user  TEXT NOT NULL,    -- A field to forward, without its secret part
	oclc            TEXT NOT NULL,
	title           TEXT NOT NULL,
	hash            TEXT NOT NULL,
	record          BLOB NOT NULL,    -- the bytes forwarded
	cause           TEXT NOT NULL,    -- exportlog.Cause* that queued it
	attempts        INTEGER NOT NULL DEFAULT 0,
	last_error      TEXT NOT NULL DEFAULT '',
	last_attempt_ns INTEGER NOT NULL DEFAULT 0,
	next_attempt_ns INTEGER NOT NULL DEFAULT 0,
	upstream_reply  TEXT NOT NULL DEFAULT '',
	system_number   TEXT NOT NULL DEFAULT '',
	done_ns         INTEGER NOT NULL DEFAULT 0, -- delivered or dropped
	drop_reason     TEXT NOT NULL DEFAULT '',
	logged          INTEGER NOT NULL DEFAULT 0, -- the delivered/dropped event is in the export log
	owner           TEXT NOT NULL DEFAULT '',   -- the process that set it sending (Relay instance)
	refusals        INTEGER NOT NULL DEFAULT 0, -- consecutive refusals of the record itself (Rule.Refusal)
	held_ns         INTEGER NOT NULL DEFAULT 0, -- when it was last set aside (state held)
	holds           INTEGER NOT NULL DEFAULT 0, -- times it was set aside
	holds_logged    INTEGER NOT NULL DEFAULT 0  -- of which the export log has the event
);
INSERT INTO relay_queue_v2 (id, queue, state, request_id, record_index, received_ns, queued_ns, remote_addr, user_name,
	fwd_user, fwd_local_user, oclc, title, hash, record, cause, attempts, last_error, last_attempt_ns, next_attempt_ns,
	upstream_reply, system_number, done_ns, drop_reason, logged, owner)
SELECT id, queue, state, request_id, record_index, received_ns, queued_ns, remote_addr, user_name,
	fwd_user, fwd_local_user, oclc, title, hash, record, cause, attempts, last_error, last_attempt_ns, next_attempt_ns,
	upstream_reply, system_number, done_ns, drop_reason, logged, owner
FROM relay_queue;
DELETE FROM sqlite_sequence WHERE name = 'relay_queue_v2';
INSERT INTO sqlite_sequence (name, seq) SELECT 'relay_queue_v2', seq FROM sqlite_sequence WHERE name = 'relay_queue';

CREATE TABLE relay_seen_v2 (
	id            INTEGER PRIMARY KEY,
	queue         TEXT NOT NULL,
	oclc          TEXT NOT NULL,
	hash          TEXT NOT NULL,
	time_ns       INTEGER NOT NULL, -- when that export was received
	system_number TEXT NOT NULL DEFAULT '',
	queue_id      INTEGER REFERENCES relay_queue_v2 (id) ON DELETE SET NULL -- when it went through the queue
);
INSERT INTO relay_seen_v2 (id, queue, oclc, hash, time_ns, system_number, queue_id)
SELECT id, queue, oclc, hash, time_ns, system_number, queue_id FROM relay_seen;

DROP TABLE relay_seen;
DROP TABLE relay_queue;
ALTER TABLE relay_queue_v2 RENAME TO relay_queue; -- relay_seen_v2's reference follows the name
ALTER TABLE relay_seen_v2 RENAME TO relay_seen;

CREATE INDEX relay_queue_pending ON relay_queue (queue, id) WHERE state IN ('queued', 'sending');
CREATE INDEX relay_queue_state ON relay_queue (queue, state, id);
CREATE INDEX relay_queue_unlogged ON relay_queue (queue, id) WHERE logged = 0 AND state IN ('delivered', 'dropped');
CREATE INDEX relay_queue_hold_events ON relay_queue (queue, id) WHERE holds > holds_logged;
CREATE INDEX relay_queue_done ON relay_queue (done_ns) WHERE done_ns <> 0;
CREATE INDEX relay_seen_key ON relay_seen (queue, hash, oclc, time_ns);
CREATE INDEX relay_seen_time ON relay_seen (time_ns);
CREATE INDEX relay_seen_queue ON relay_seen (queue_id) WHERE queue_id IS NOT NULL;
`}}
