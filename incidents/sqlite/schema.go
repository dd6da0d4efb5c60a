// Package sqlite stores incidents, their timelines, captured messages and
// affected records, the notification outbox, silences, maintenance windows
// and the bot's small key/value state in oclcbot's SQLite database
// (component "incidents"), through db.DB so that every change is one
// group-committed transaction.
//
// Times are stored as INTEGER Unix nanoseconds (0 for none), so that they
// sort and compare in SQL and come back exactly as they went in.
package sqlite

import "github.com/oclcbot/oclcbot/db"

// Component is the name under which the schema's migrations are recorded.
const Component = "incidents"

// migrations are the schema steps. A released step is never edited: add
// a new one.
var migrations = []db.Migration{
	{Version: 1, SQL: `
CREATE TABLE incidents (
	id            TEXT PRIMARY KEY,
	prefix        TEXT NOT NULL,
	year          INTEGER NOT NULL,
	seq           INTEGER NOT NULL,
	target        TEXT NOT NULL,
	cause         TEXT NOT NULL,
	class         TEXT NOT NULL,
	severity      INTEGER NOT NULL,
	state         TEXT NOT NULL CHECK (state IN ('open', 'acknowledged', 'solved')),
	reported      INTEGER NOT NULL DEFAULT 0,
	opened        INTEGER NOT NULL,
	since         INTEGER NOT NULL,
	first_failure INTEGER NOT NULL DEFAULT 0,
	last_failure  INTEGER NOT NULL DEFAULT 0,
	acked_at      INTEGER NOT NULL DEFAULT 0,
	acked_by      TEXT NOT NULL DEFAULT '',
	solved_at     INTEGER NOT NULL DEFAULT 0,
	solved_by     TEXT NOT NULL DEFAULT '',
	reopens       INTEGER NOT NULL DEFAULT 0,
	failures      INTEGER NOT NULL DEFAULT 0,
	announced_at  INTEGER NOT NULL DEFAULT 0,
	escalated     INTEGER NOT NULL DEFAULT 0,
	last_reminder INTEGER NOT NULL DEFAULT 0,
	last_notice   INTEGER NOT NULL DEFAULT 0,
	message_count INTEGER NOT NULL DEFAULT 0,
	version       INTEGER NOT NULL,
	UNIQUE (prefix, year, seq)
);
-- The hot path: the open incident of a target.
CREATE INDEX incidents_active ON incidents (target) WHERE state != 'solved';
CREATE INDEX incidents_solved ON incidents (solved_at) WHERE state = 'solved';
CREATE INDEX incidents_opened ON incidents (opened);

CREATE TABLE incident_events (
	incident TEXT NOT NULL REFERENCES incidents (id),
	seq      INTEGER NOT NULL,
	at       INTEGER NOT NULL,
	kind     TEXT NOT NULL,
	actor    TEXT NOT NULL,
	text     TEXT NOT NULL,
	PRIMARY KEY (incident, seq)
) WITHOUT ROWID;

CREATE TABLE incident_messages (
	incident TEXT NOT NULL REFERENCES incidents (id),
	seq      INTEGER NOT NULL,
	at       INTEGER NOT NULL,
	last     INTEGER NOT NULL,
	source   TEXT NOT NULL,
	sender   TEXT NOT NULL,
	text     TEXT NOT NULL,
	repeats  INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (incident, seq)
);

CREATE TABLE incident_records (
	incident    TEXT NOT NULL REFERENCES incidents (id),
	attempt_id  INTEGER NOT NULL,
	at          INTEGER NOT NULL,
	user        TEXT NOT NULL,
	target      TEXT NOT NULL,
	oclc_number TEXT NOT NULL,
	title       TEXT NOT NULL,
	outcome     TEXT NOT NULL,
	cause       TEXT NOT NULL,
	reply       TEXT NOT NULL,
	upstream    TEXT NOT NULL,
	detail      TEXT NOT NULL,
	status      TEXT NOT NULL,
	updated     INTEGER NOT NULL,
	announced   INTEGER NOT NULL DEFAULT 0,
	printout    TEXT NOT NULL,
	raw         BLOB,
	PRIMARY KEY (incident, attempt_id)
);
-- A queued record delivered later names its first attempt (Follows).
CREATE INDEX incident_records_attempt ON incident_records (attempt_id);

-- What each channel was last told about each incident.
CREATE TABLE incident_announced (
	incident TEXT NOT NULL REFERENCES incidents (id),
	channel  TEXT NOT NULL,
	state    TEXT NOT NULL,
	at       INTEGER NOT NULL,
	PRIMARY KEY (incident, channel)
) WITHOUT ROWID;
CREATE INDEX incident_announced_open ON incident_announced (incident) WHERE state IN ('problem', 'reported');

CREATE TABLE outbox (
	id          INTEGER PRIMARY KEY,
	key         TEXT NOT NULL UNIQUE,
	channel     TEXT NOT NULL,
	kind        TEXT NOT NULL,
	incident    TEXT NOT NULL,
	thread_key  TEXT NOT NULL,
	subject     TEXT NOT NULL,
	body        TEXT NOT NULL,
	payload     BLOB NOT NULL,
	state       TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'sent', 'dead')),
	attempts    INTEGER NOT NULL DEFAULT 0,
	next_at     INTEGER NOT NULL,
	last_error  TEXT NOT NULL DEFAULT '',
	created     INTEGER NOT NULL,
	age_from    INTEGER NOT NULL,
	sent        INTEGER NOT NULL DEFAULT 0,
	echo        INTEGER NOT NULL DEFAULT 0,
	skipped_for TEXT NOT NULL DEFAULT ''
);
-- Due work per channel, and the per-incident order check.
CREATE INDEX outbox_queue ON outbox (channel, incident, id) WHERE state IN ('pending', 'sending');
CREATE INDEX outbox_thread ON outbox (incident, channel, id);
CREATE INDEX outbox_echo ON outbox (sent) WHERE echo = 1;
CREATE INDEX outbox_state ON outbox (state, id);

CREATE TABLE silences (
	id      INTEGER PRIMARY KEY,
	target  TEXT NOT NULL,
	until   INTEGER NOT NULL,
	reason  TEXT NOT NULL,
	actor   TEXT NOT NULL,
	created INTEGER NOT NULL,
	ended   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX silences_active ON silences (until) WHERE ended = 0;

CREATE TABLE maintenance_windows (
	id       INTEGER PRIMARY KEY,
	target   TEXT NOT NULL,
	schedule TEXT NOT NULL,
	reason   TEXT NOT NULL,
	actor    TEXT NOT NULL,
	created  INTEGER NOT NULL
);

CREATE TABLE bot_state (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
) WITHOUT ROWID;
`},
	// Version 2: a captured message identical to an earlier one of the
	// same incident (same source, same text without surrounding white
	// space) is kept once with a count (repeats + 1), whoever sent it;
	// failed checks are counted apart from failed exports. Messages
	// stored before were merged only when consecutive: the copies are
	// folded into the first one here, their senders into its others (a
	// JSON array of strings, '' for none), and message_count becomes the
	// count of distinct messages. check_failures is unknown for older
	// incidents and starts at 0.
	{Version: 2, SQL: `
ALTER TABLE incidents ADD COLUMN check_failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE incident_messages ADD COLUMN others TEXT NOT NULL DEFAULT '';

CREATE TEMP TABLE message_copies AS
	SELECT c.incident AS incident, c.seq AS seq,
		(SELECT MIN(k.seq) FROM incident_messages k
			WHERE k.incident = c.incident AND k.source = c.source
			AND trim(k.text, char(32, 9, 10, 11, 12, 13)) = trim(c.text, char(32, 9, 10, 11, 12, 13))) AS first
	FROM incident_messages c;
DELETE FROM message_copies WHERE seq = first;

UPDATE incident_messages SET
	repeats = repeats + (SELECT SUM(c.repeats + 1) FROM incident_messages c JOIN message_copies d ON d.incident = c.incident AND d.seq = c.seq
		WHERE d.incident = incident_messages.incident AND d.first = incident_messages.seq),
	at = MIN(at, (SELECT MIN(c.at) FROM incident_messages c JOIN message_copies d ON d.incident = c.incident AND d.seq = c.seq
		WHERE d.incident = incident_messages.incident AND d.first = incident_messages.seq)),
	last = MAX(last, (SELECT MAX(c.last) FROM incident_messages c JOIN message_copies d ON d.incident = c.incident AND d.seq = c.seq
		WHERE d.incident = incident_messages.incident AND d.first = incident_messages.seq)),
	others = COALESCE((SELECT json_group_array(sender) FROM (SELECT c.sender AS sender FROM incident_messages c
		JOIN message_copies d ON d.incident = c.incident AND d.seq = c.seq
		WHERE d.incident = incident_messages.incident AND d.first = incident_messages.seq
			AND c.sender != incident_messages.sender AND c.sender != ''
		GROUP BY c.sender ORDER BY MIN(c.seq) LIMIT 10)), '[]')
WHERE EXISTS (SELECT 1 FROM message_copies d WHERE d.incident = incident_messages.incident AND d.first = incident_messages.seq);
UPDATE incident_messages SET others = '' WHERE others = '[]';

UPDATE incidents SET message_count = message_count - (SELECT COUNT(*) FROM message_copies d WHERE d.incident = incidents.id)
WHERE id IN (SELECT incident FROM message_copies);
DELETE FROM incident_messages WHERE EXISTS
	(SELECT 1 FROM message_copies d WHERE d.incident = incident_messages.incident AND d.seq = incident_messages.seq);
DROP TABLE message_copies;
`},
}
