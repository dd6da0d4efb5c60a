package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Search limits.
const (
	DefaultSearchLimit = 50
	MaxSearchLimit     = 1000
)

// Match says why a record is among a search's hits.
type Match string

// Matches.
const (
	MatchSystemNumber Match = "system-number" // the query is its system number
	MatchOCLCNumber   Match = "oclc-number"   // it carries the OCLC number searched for
	MatchText         Match = "text"          // every word occurs in its author, title or subjects
)

// Hit is one record a search found.
type Hit struct {
	Summary
	Match Match
}

// Search finds records the way a cataloger asks for them and returns at
// most limit hits (DefaultSearchLimit when limit <= 0, never more than
// MaxSearchLimit), best first:
//
//   - a system number with the library code ("HVD01 000000042",
//     "(HVD01)42"): that record;
//   - an OCLC number with its prefix ("ocm00012345", "(OCoLC)12345"):
//     every record carrying it (001, 035 or 019);
//   - bare digits: the records carrying that OCLC number, then the record
//     with that system number, then records with the digits as a word
//     (the novel "1984");
//   - anything else: records having every word in their author, title or
//     subjects, ignoring case and diacritics ("muller cafe" finds "Müller"
//     and "Café"), ranked by relevance (bm25; a title word weighs most,
//     then author, then subject). A phrase
//     may be put in double quotes, a word ending in * matches every word
//     it begins, and author:, title: or subject: limits a term to that
//     part ("author:tolstoy title:voina").
//
// Within a kind, records marked deleted come after the others (among
// the best limit of that kind, for words). It
// returns ErrEmptyQuery when there is nothing to search for, and no
// error (no hits) when nothing matches.
func (v *view) Search(ctx context.Context, q string, limit int) ([]Hit, error) {
	if limit <= 0 {
		limit = DefaultSearchLimit
	}
	limit = min(limit, MaxSearchLimit)
	pq, ok := parseQuery(q, v.c.opt.LibraryCode)
	if !ok {
		return nil, ErrEmptyQuery
	}
	ctx = v.ctx(ctx)
	var hits []Hit
	seen := make(map[SystemNumber]bool)
	add := func(ss []Summary, m Match) {
		for _, s := range ss {
			if !seen[s.SystemNumber] && len(hits) < limit {
				seen[s.SystemNumber] = true
				hits = append(hits, Hit{Summary: s, Match: m})
			}
		}
	}
	if pq.oclc != "" {
		ss, err := v.FindByOCLC(ctx, pq.oclc)
		if err != nil {
			return nil, fmt.Errorf("search %q: %w", q, err)
		}
		add(liveFirst(ss), MatchOCLCNumber)
	}
	if pq.sysno != 0 {
		s, err := v.Summary(ctx, pq.sysno)
		switch {
		case err == nil:
			add([]Summary{*s}, MatchSystemNumber)
		case !errors.Is(err, ErrNotFound):
			return nil, fmt.Errorf("search %q: %w", q, err)
		}
	}
	if pq.match != "" && len(hits) < limit {
		if err := v.indexWaiting(ctx); err != nil {
			return nil, fmt.Errorf("search %q: %w", q, err)
		}
		// FTS5 ranks by its configured rank (bm25 with column weights, see
		// the schema) and only the best rows are joined.
		ss, err := collectSummaries(v.q.QueryContext(ctx, `SELECT `+summaryCols+`
			FROM (SELECT rowid AS id, rank AS score FROM catalog_fts WHERE catalog_fts MATCH ? ORDER BY rank LIMIT ?) f
			JOIN catalog_records r ON r.sysno = f.id ORDER BY f.score`,
			pq.match, limit))
		if err != nil {
			return nil, fmt.Errorf("search %q: %w", q, err)
		}
		add(liveFirst(ss), MatchText)
	}
	return hits, nil
}

// liveFirst puts records not marked deleted before those marked,
// keeping the order otherwise.
func liveFirst(ss []Summary) []Summary {
	out := make([]Summary, 0, len(ss))
	for _, s := range ss {
		if !s.Deleted {
			out = append(out, s)
		}
	}
	for _, s := range ss {
		if s.Deleted {
			out = append(out, s)
		}
	}
	return out
}

// Findable reports whether a cataloger searching for title (its words,
// as typed into the search box) finds record systemNumber (with or
// without the library code): whether the record is among everything that
// search matches, however it ranks. It is the index probe's check that
// an imported record became searchable. A title without a single word to
// search for cannot be checked: Findable then reports whether the record
// exists. An error means the search itself failed or systemNumber is not
// a system number.
func (v *view) Findable(ctx context.Context, systemNumber, title string) (bool, error) {
	n, err := ParseSystemNumber(systemNumber, v.c.opt.LibraryCode)
	if err != nil {
		return false, err
	}
	ctx = v.ctx(ctx)
	match := ftsMatch(title, false)
	var one int
	if match == "" {
		err = v.q.QueryRowContext(ctx, `SELECT 1 FROM catalog_records WHERE sysno = ?`, n).Scan(&one)
	} else if err = v.indexWaiting(ctx); err == nil {
		err = v.q.QueryRowContext(ctx, `SELECT 1 FROM catalog_fts WHERE catalog_fts MATCH ? AND rowid = ?`, match, n).Scan(&one)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("search for record %s by title: %w", n, err)
	}
	return true, nil
}

// indexWaiting writes the words still waiting for the full-text index
// (IndexDelay) before a search by words, so that it finds every record
// stored before it. Inside a write there is nothing to do: the words of
// records it stored are not written until it ends.
func (v *view) indexWaiting(ctx context.Context) error {
	if v.inWrite || !v.c.hasPending() {
		return nil
	}
	return v.c.IndexPending(ctx)
}
