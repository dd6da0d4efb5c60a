package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/oclcbot/oclcbot/catalog"
	"github.com/oclcbot/oclcbot/marc"
)

func runCatalog(ctx context.Context, e *env, args []string) error {
	return runAdminSubs(ctx, e, "catalog", `
The embedded catalog: the records catalogers exported, with every earlier
version kept. System numbers may be given with or without the library code
(HVD01 000000042, 000000042, 42).`,
		[]adminSub{
			{"search", "find records by author, title, subject, OCLC or system number", catalogSearch},
			{"show", "print a record (mrk, line, xml, json), or all its versions", catalogShow},
			{"duplicates", "list records that share an OCLC number", catalogDuplicates},
			{"stats", "count records, versions and OCLC numbers", catalogStats},
		}, args)
}

func catalogSearch(ctx context.Context, e *env, args []string) error {
	c := newAdminCmd(e, "catalog search", "[flags] QUERY", `
Find records the way a cataloger asks for them:
  HVD01 000000042, (HVD01)42   that record
  ocm00012345, (OCoLC)12345    every record carrying that OCLC number
  12345                        that OCLC number, then that system number,
                               then records with the word "12345"
  muller cafe                  records with every word in their author,
                               title or subjects (case and accents ignored)
  "war and peace"              a phrase; tolst* matches words it begins
  author:tolstoy title:voina   a word in one part only
Best matches first; records marked deleted after the others.`)
	limit := c.fs.Int("limit", catalog.DefaultSearchLimit, fmt.Sprintf("show at most `N` records (at most %d)", catalog.MaxSearchLimit))
	asJSON := c.jsonFlag()
	if err := c.parse(args, anyArgs); err != nil {
		return err
	}
	q := strings.TrimSpace(strings.Join(c.pos, " "))
	if q == "" {
		return c.usageError("give something to search for")
	}
	if *limit <= 0 || *limit > catalog.MaxSearchLimit {
		return c.usageError("--limit must be between 1 and %d", catalog.MaxSearchLimit)
	}
	a, err := c.open(ctx, true)
	if err != nil {
		return err
	}
	defer a.Close()
	hits, err := a.catalog.Search(ctx, q, *limit)
	if errors.Is(err, catalog.ErrEmptyQuery) {
		return fmt.Errorf("%q has no word to search for", q)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(e.stdout, jsonForms(hits, func(h catalog.Hit) catalogRecordJSON {
			j := newCatalogRecordJSON(a.catalog, &h.Summary, c.loc)
			j.Match = string(h.Match)
			return j
		}))
	}
	if len(hits) == 0 {
		fmt.Fprintf(e.stdout, "no records match %q\n", q)
		return nil
	}
	t := newTable(e.stdout, "SYSTEM NUMBER", "OCLC", "VER", "UPDATED", "AUTHOR", "TITLE")
	for _, h := range hits {
		t.row(a.catalog.Display(h.SystemNumber), dash(h.OCLCNumber),
			h.Version, adminTime(h.Updated, c.loc), dash(clip(h.Author, 30)), recordTitle(&h.Summary))
	}
	if err := t.flush(); err != nil {
		return err
	}
	moreNote(e.stdout, len(hits), *limit, "best")
	return nil
}

func recordTitle(s *catalog.Summary) string {
	t := dash(clip(s.Title, 60))
	if s.Deleted {
		t = "[DELETED] " + t
	}
	return t
}

func catalogShow(ctx context.Context, e *env, args []string) error {
	c := newAdminCmd(e, "catalog show", "[flags] SYSTEM-NUMBER", `
Print a record as stored (UTF-8, import rules applied). With --history,
print every version, oldest first; in the mrk and line formats each is
preceded by a line saying when, why and from whom it came. With --original,
print the bytes Connexion sent instead (MARC-8 records converted to UTF-8
for reading, except in the marc format).`)
	formatName := c.fs.String("format", "mrk", "output `format`: mrk, line, xml, json or marc (ISO 2709)")
	history := c.fs.Bool("history", false, "print every version, oldest first")
	original := c.fs.Bool("original", false, "print the record as received rather than as stored")
	if err := c.parse(args, someArgs("give a system number")); err != nil {
		return err
	}
	format, err := marc.ParseFormat(*formatName)
	if err != nil {
		return c.usageError("%v", err)
	}
	if err := c.load(); err != nil {
		return err
	}
	arg := strings.Join(c.pos, " ")
	n, err := catalog.ParseSystemNumber(arg, c.cfg.Library.Code)
	if err != nil {
		return c.usageError("%q is not a system number (like %s, 000000042 or 42)", arg, catalog.SystemNumber(42).Display(c.cfg.Library.Code))
	}
	a, err := c.open(ctx, true)
	if err != nil {
		return err
	}
	defer a.Close()
	cat := a.catalog
	var versions []catalog.Version
	if *history {
		versions, err = cat.History(ctx, n)
	} else {
		var en *catalog.Entry
		if en, err = cat.Get(ctx, n); err == nil {
			versions = []catalog.Version{{SystemNumber: n, Number: en.Version, Raw: en.Raw, Original: en.Original}}
		}
	}
	if errors.Is(err, catalog.ErrNotFound) {
		return fmt.Errorf("no record %s", cat.Display(n))
	}
	if err != nil {
		return err
	}
	w := marc.NewWriter(e.stdout, format)
	human := format == marc.FormatMnemonic || format == marc.FormatLine
	for i := range versions {
		v := &versions[i]
		if *history && human {
			if err := w.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "# %s version %d of %d: %s\n", cat.Display(n), v.Number, len(versions), versionSource(v, c.loc))
		}
		if err := writeVersion(w, v, format, *original); err != nil {
			return fmt.Errorf("%s version %d: %w", cat.Display(n), v.Number, err)
		}
	}
	return w.Close()
}

// versionSource says when, why and from whom a version came.
func versionSource(v *catalog.Version, loc *time.Location) string {
	s := fmt.Sprintf("%s %s", v.Reason, adminTime(v.Source.Time, loc))
	if v.Source.User != "" {
		s += " by " + v.Source.User
	}
	if v.Source.RemoteAddr != "" {
		s += " from " + v.Source.RemoteAddr
	}
	if v.Source.RequestID != 0 {
		s += fmt.Sprintf(" (request %d)", v.Source.RequestID)
	}
	return s
}

// writeVersion prints one version, as stored or as received.
func writeVersion(w *marc.Writer, v *catalog.Version, format marc.Format, original bool) error {
	if !original {
		r, err := v.Record()
		if err != nil {
			return err
		}
		return w.Write(r)
	}
	if format == marc.FormatISO2709 {
		return w.WriteRaw(v.Original)
	}
	r, err := marc.Decode(v.Original)
	if err != nil {
		return err
	}
	if r.Leader[9] == ' ' {
		if u, err := marc.ToUTF8(r); err == nil {
			r = u
		}
	}
	return w.Write(r)
}

func catalogDuplicates(ctx context.Context, e *env, args []string) error {
	c := newAdminCmd(e, "catalog duplicates", "[flags]", `
List the records that share an OCLC number: the same bibliographic record
stored more than once, for a cataloger to check. Groups with the most recent
change first. Records marked deleted (STA DELETED) are left out unless --all.`)
	all := c.fs.Bool("all", false, "count records marked deleted too")
	limit := c.limitFlag(catalog.DefaultDuplicateGroups, "show at most `N` groups")
	asJSON := c.jsonFlag()
	a, err := c.start(ctx, args, noArgs)
	if err != nil {
		return err
	}
	defer a.Close()
	groups, err := a.catalog.Duplicates(ctx, catalog.DuplicatesOptions{IncludeDeleted: *all, Limit: *limit})
	if err != nil {
		return err
	}
	if *asJSON {
		type groupJSON struct {
			OCLCNumber string              `json:"oclc_number"`
			Records    []catalogRecordJSON `json:"records"`
		}
		return writeJSON(e.stdout, jsonForms(groups, func(g catalog.DuplicateGroup) groupJSON {
			return groupJSON{OCLCNumber: g.OCLCNumber, Records: jsonForms(g.Records, func(s catalog.Summary) catalogRecordJSON {
				return newCatalogRecordJSON(a.catalog, &s, c.loc)
			})}
		}))
	}
	if len(groups) == 0 {
		fmt.Fprintln(e.stdout, "no duplicates: no OCLC number is carried by more than one record")
		return nil
	}
	t := newTable(e.stdout, "OCLC", "SYSTEM NUMBER", "VER", "UPDATED", "HOLDINGS", "TITLE")
	for _, g := range groups {
		for i := range g.Records {
			r := &g.Records[i]
			num := g.OCLCNumber
			if i > 0 {
				num = ""
			}
			t.row(num, a.catalog.Display(r.SystemNumber), r.Version,
				adminTime(r.Updated, c.loc), dash(strings.Join(r.Holdings, " ")), recordTitle(r))
		}
	}
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s sharing an OCLC number\n", pluralize(len(groups), "group"))
	return nil
}

func catalogStats(ctx context.Context, e *env, args []string) error {
	c := newAdminCmd(e, "catalog stats", "[flags]", "Count the catalog's records, versions and OCLC numbers.")
	a, err := c.start(ctx, args, noArgs)
	if err != nil {
		return err
	}
	defer a.Close()
	s, err := a.catalog.Stats(ctx)
	if err != nil {
		return err
	}
	last := "-"
	if s.LastSystemNumber != 0 {
		last = a.catalog.Display(s.LastSystemNumber)
	}
	fmt.Fprintf(e.stdout, "records:             %d (%d marked deleted)\n", s.Records, s.Deleted)
	fmt.Fprintf(e.stdout, "versions:            %d\n", s.Versions)
	fmt.Fprintf(e.stdout, "OCLC numbers:        %d (%d carried by more than one record)\n", s.OCLCNumbers, s.DuplicateNumbers)
	fmt.Fprintf(e.stdout, "last system number:  %s\n", last)
	fmt.Fprintf(e.stdout, "last change:         %s\n", adminTime(s.LastChange, c.loc))
	fmt.Fprintf(e.stdout, "canary exports:      %d, last %s\n", s.Canaries, adminTime(s.LastCanary, c.loc))
	return nil
}

// catalogRecordJSON is the stable JSON form of a catalog record's summary.
type catalogRecordJSON struct {
	SystemNumber string   `json:"system_number"` // nine digits
	Display      string   `json:"display"`       // with the library code
	Version      int      `json:"version"`
	OCLCNumber   string   `json:"oclc_number,omitempty"`
	Title        string   `json:"title,omitempty"`
	Author       string   `json:"author,omitempty"`
	Holdings     []string `json:"holdings,omitempty"`
	Deleted      bool     `json:"deleted"`
	Created      string   `json:"created"`
	Received     string   `json:"received"`
	Updated      string   `json:"updated"`
	Match        string   `json:"match,omitempty"` // search only: system-number, oclc-number or text
}

func newCatalogRecordJSON(c *catalog.Catalog, s *catalog.Summary, loc *time.Location) catalogRecordJSON {
	return catalogRecordJSON{
		SystemNumber: s.SystemNumber.String(), Display: c.Display(s.SystemNumber), Version: s.Version,
		OCLCNumber: s.OCLCNumber, Title: s.Title, Author: s.Author, Holdings: s.Holdings, Deleted: s.Deleted,
		Created: jsonTime(s.Created, loc), Received: jsonTime(s.Received, loc), Updated: jsonTime(s.Updated, loc),
	}
}
