package catalog

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/oclcbot/oclcbot/db"
)

// DefaultDuplicateGroups is how many groups Duplicates returns when no
// limit is given.
const DefaultDuplicateGroups = 100

// DuplicateGroup is a set of records that share an OCLC number: the
// same bibliographic record stored more than once, for a cataloger to
// check.
type DuplicateGroup struct {
	OCLCNumber string
	Records    []Summary // in system number order
}

// DuplicatesOptions selects the duplicates view.
type DuplicatesOptions struct {
	// IncludeDeleted counts records marked deleted too; by default a
	// group is records not marked deleted (a double export already marked
	// is dealt with).
	IncludeDeleted bool
	// Limit bounds the groups returned (DefaultDuplicateGroups when 0).
	Limit int
}

// Duplicates returns groups of records sharing an OCLC number, the group
// with the most recent change first. Records sharing several numbers
// appear as one group, under the first number found.
func (v *view) Duplicates(ctx context.Context, opt DuplicatesOptions) ([]DuplicateGroup, error) {
	if opt.Limit <= 0 {
		opt.Limit = DefaultDuplicateGroups
	}
	ctx = v.ctx(ctx)
	rows, err := v.q.QueryContext(ctx, `SELECT o.oclc, group_concat(o.sysno) FROM catalog_oclc o
		JOIN catalog_records r ON r.sysno = o.sysno
		WHERE ? OR r.deleted = 0
		GROUP BY o.oclc HAVING COUNT(*) > 1
		ORDER BY MAX(r.updated_ns) DESC, o.oclc`, opt.IncludeDeleted)
	if err != nil {
		return nil, fmt.Errorf("list duplicates: %w", err)
	}
	type group struct{ oclc, members string }
	var groups []group
	seen := make(map[string]bool)
	for rows.Next() && len(groups) < opt.Limit {
		var g group
		if err := rows.Scan(&g.oclc, &g.members); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list duplicates: %w", err)
		}
		ids := strings.Split(g.members, ",")
		slices.Sort(ids)
		key := strings.Join(ids, ",")
		if !seen[key] {
			seen[key] = true
			groups = append(groups, g)
		}
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return nil, fmt.Errorf("list duplicates: %w", err)
	}
	out := make([]DuplicateGroup, 0, len(groups))
	for _, g := range groups {
		ss, err := v.FindByOCLC(ctx, g.oclc)
		if err != nil {
			return nil, fmt.Errorf("list duplicates: %w", err)
		}
		if !opt.IncludeDeleted {
			ss = slices.DeleteFunc(ss, func(s Summary) bool { return s.Deleted })
		}
		out = append(out, DuplicateGroup{OCLCNumber: g.oclc, Records: ss})
	}
	return out, nil
}

// Stats are the catalog's counts.
type Stats struct {
	Records          int64        // records, deleted ones included
	Deleted          int64        // records marked deleted
	Versions         int64        // versions of all records
	OCLCNumbers      int64        // distinct OCLC numbers indexed
	DuplicateNumbers int64        // OCLC numbers carried by more than one record not marked deleted
	LastSystemNumber SystemNumber // the last number given out (0 when none)
	LastChange       time.Time    // the latest add, overlay or deletion mark (zero when none)
	Canaries         int64        // canary exports that went through a dry run
	LastCanary       time.Time    // the latest of them (zero when none)
}

// Stats counts the catalog's records, versions and numbers.
func (v *view) Stats(ctx context.Context) (Stats, error) {
	ctx = v.ctx(ctx)
	var st Stats
	var last int64
	err := v.q.QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM catalog_records),
		(SELECT COUNT(*) FROM catalog_records WHERE deleted = 1),
		(SELECT COUNT(*) FROM catalog_versions),
		(SELECT COUNT(DISTINCT oclc) FROM catalog_oclc),
		(SELECT COUNT(*) FROM (SELECT o.oclc FROM catalog_oclc o JOIN catalog_records r ON r.sysno = o.sysno
			WHERE r.deleted = 0 GROUP BY o.oclc HAVING COUNT(*) > 1)),
		(SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = 'catalog_records'),
		(SELECT COALESCE(MAX(updated_ns), 0) FROM catalog_records)`).
		Scan(&st.Records, &st.Deleted, &st.Versions, &st.OCLCNumbers, &st.DuplicateNumbers, &st.LastSystemNumber, &last)
	if err != nil {
		return st, fmt.Errorf("count catalog: %w", err)
	}
	st.LastChange = db.NSTime(last)
	if st.Canaries, st.LastCanary, err = v.Canary(ctx); err != nil {
		return st, err
	}
	return st, nil
}
