package catalog

import "github.com/oclcbot/oclcbot/db"

// migrations are the catalog's tables. Times are Unix nanoseconds, as in
// the export log. A step, once released, is never edited: add a new one.
//
// catalog_records has one row per record: its current version and what
// matching, "is this ours" checks and listings need, so that none of them
// decodes a record. The record itself, every version of it, lives in
// catalog_versions: an overlay adds a version and moves the pointer, so
// nothing is ever lost. catalog_oclc indexes every OCLC number a record
// carries (001/035/019, normalised), catalog_fts its author, title and
// subject words. All of a record's rows are written in one transaction
// (Check verifies they agree).
//
// System numbers are catalog_records' AUTOINCREMENT row IDs: SQLite
// keeps the highest one ever given out in sqlite_sequence, so numbers
// are never reused, whatever happens to the records. catalog_canary counts
// canary (probe) exports, which exercise a full write, roll it back, and
// commit only this heartbeat.
var migrations = []db.Migration{{Version: 1, SQL: `
CREATE TABLE catalog_records (
	sysno       INTEGER PRIMARY KEY AUTOINCREMENT, -- system number, never reused
	version     INTEGER NOT NULL,      -- current version (catalog_versions)
	oclc        TEXT NOT NULL,         -- primary OCLC number of the current version, '' when none
	hash        TEXT NOT NULL,         -- content hash of the export that gave the current content
	title       TEXT NOT NULL,         -- for people (245)
	author      TEXT NOT NULL,         -- for people (1XX)
	holdings    TEXT NOT NULL,         -- 049 $a codes, upper case, one space between
	deleted     INTEGER NOT NULL CHECK (deleted IN (0, 1)), -- carries STA $a DELETED
	created_ns  INTEGER NOT NULL,
	received_ns INTEGER NOT NULL,      -- when the current content was exported
	updated_ns  INTEGER NOT NULL       -- last change of any kind
);

CREATE TABLE catalog_versions (
	id          INTEGER PRIMARY KEY,
	sysno       INTEGER NOT NULL REFERENCES catalog_records (sysno),
	version     INTEGER NOT NULL,      -- 1 = as added, then one more per change
	reason      TEXT NOT NULL CHECK (reason IN ('added', 'overlay', 'mark-deleted')),
	time_ns     INTEGER NOT NULL,
	user_name   TEXT NOT NULL,         -- who exported it ('' on an open listener)
	request_id  INTEGER NOT NULL,      -- gateway request ID (0 outside the receiver)
	remote_addr TEXT NOT NULL,
	oclc        TEXT NOT NULL,
	hash        TEXT NOT NULL,
	record      BLOB NOT NULL,         -- ISO 2709, UTF-8, as stored
	original    BLOB NOT NULL,         -- the bytes as received
	UNIQUE (sysno, version)
);

CREATE TABLE catalog_oclc (
	oclc    TEXT NOT NULL,             -- normalised: digits, no leading zeros
	sysno   INTEGER NOT NULL REFERENCES catalog_records (sysno),
	primary_number INTEGER NOT NULL CHECK (primary_number IN (0, 1)),
	PRIMARY KEY (oclc, sysno)
) WITHOUT ROWID;
CREATE INDEX catalog_oclc_sysno ON catalog_oclc (sysno);

CREATE VIRTUAL TABLE catalog_fts USING fts5 (
	author, title, subjects,
	tokenize = 'unicode61 remove_diacritics 2'
);
-- Search ranks by bm25 with these column weights (author, title,
-- subjects): a word in the title says most about what the record is.
INSERT INTO catalog_fts (catalog_fts, rank) VALUES ('rank', 'bm25(4.0, 8.0, 2.0)');

CREATE TABLE catalog_canary (
	id      INTEGER PRIMARY KEY CHECK (id = 1),
	last_ns INTEGER NOT NULL,
	count   INTEGER NOT NULL
);
`}, {Version: 2, SQL: `
-- From this version on, catalog_versions.original is empty when the
-- bytes as received are the record's own (a UTF-8 export the import
-- rules did not change): read it as record (originalOf in write.go).

-- Records whose words are due in catalog_fts (index.go): written with
-- the record, deleted when the words are indexed.
CREATE TABLE catalog_fts_pending (
	sysno   INTEGER PRIMARY KEY,       -- catalog_records.sysno
	version INTEGER NOT NULL           -- the version whose words are due
);
`}}
