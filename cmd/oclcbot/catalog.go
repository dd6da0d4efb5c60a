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
	fs := newFlags(e, "catalog search", "[flags] QUERY", `
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
	cfgPath := configFlag(fs)
	limit := fs.Int("limit", catalog.DefaultSearchLimit, fmt.Sprintf("show at most `N` records (at most %d)", catalog.MaxSearchLimit))
	asJSON := fs.Bool("json", false, "print JSON for scripts")
	pos, err := parseAdminArgs(e, fs, args)
	if err != nil {
		return err
	}
	q := strings.TrimSpace(strings.Join(pos, " "))
	if q == "" {
		return adminUsageError(e, fs, "give something to search for")
	}
	if *limit <= 0 || *limit > catalog.MaxSearchLimit {
		return adminUsageError(e, fs, "--limit must be between 1 and %d", catalog.MaxSearchLimit)
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	a, err := openAdmin(ctx, e, cfg, true)
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
	loc := cfg.Bot.Location()
	if *asJSON {
		out := make([]catalogRecordJSON, len(hits))
		for i, h := range hits {
			out[i] = newCatalogRecordJSON(a.catalog, &h.Summary, loc)
			out[i].Match = string(h.Match)
		}
		return writeJSON(e.stdout, out)
	}
	if len(hits) == 0 {
		fmt.Fprintf(e.stdout, "no records match %q\n", q)
		return nil
	}
	tw := newTable(e.stdout)
	fmt.Fprintln(tw, "SYSTEM NUMBER\tOCLC\tVER\tUPDATED\tAUTHOR\tTITLE")
	for _, h := range hits {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", a.catalog.Display(h.SystemNumber), dash(h.OCLCNumber),
			h.Version, adminTime(h.Updated, loc), dash(clip(h.Author, 30)), recordTitle(&h.Summary))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(hits) == *limit {
		fmt.Fprintf(e.stdout, "(the best %d; --limit shows more)\n", len(hits))
	}
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
	fs := newFlags(e, "catalog show", "[flags] SYSTEM-NUMBER", `
Print a record as stored (UTF-8, import rules applied). With --history,
print every version, oldest first; in the mrk and line formats each is
preceded by a line saying when, why and from whom it came. With --original,
print the bytes Connexion sent instead (MARC-8 records converted to UTF-8
for reading, except in the marc format).`)
	cfgPath := configFlag(fs)
	formatName := fs.String("format", "mrk", "output `format`: mrk, line, xml, json or marc (ISO 2709)")
	history := fs.Bool("history", false, "print every version, oldest first")
	original := fs.Bool("original", false, "print the record as received rather than as stored")
	pos, err := parseAdminArgs(e, fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return adminUsageError(e, fs, "give a system number")
	}
	format, err := marc.ParseFormat(*formatName)
	if err != nil {
		return adminUsageError(e, fs, "%v", err)
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	arg := strings.Join(pos, " ")
	n, err := catalog.ParseSystemNumber(arg, cfg.Library.Code)
	if err != nil {
		return adminUsageError(e, fs, "%q is not a system number (like %s, 000000042 or 42)", arg, catalog.SystemNumber(42).Display(cfg.Library.Code))
	}
	a, err := openAdmin(ctx, e, cfg, true)
	if err != nil {
		return err
	}
	defer a.Close()
	c := a.catalog
	var versions []catalog.Version
	if *history {
		versions, err = c.History(ctx, n)
	} else {
		var en *catalog.Entry
		if en, err = c.Get(ctx, n); err == nil {
			versions = []catalog.Version{{SystemNumber: n, Number: en.Version, Raw: en.Raw, Original: en.Original}}
		}
	}
	if errors.Is(err, catalog.ErrNotFound) {
		return fmt.Errorf("no record %s", c.Display(n))
	}
	if err != nil {
		return err
	}
	w := marc.NewWriter(e.stdout, format)
	human := format == marc.FormatMnemonic || format == marc.FormatLine
	loc := cfg.Bot.Location()
	for i := range versions {
		v := &versions[i]
		if *history && human {
			if err := w.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "# %s version %d of %d: %s\n", c.Display(n), v.Number, len(versions), versionSource(v, loc))
		}
		if err := writeVersion(w, v, format, *original); err != nil {
			return fmt.Errorf("%s version %d: %w", c.Display(n), v.Number, err)
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
	fs := newFlags(e, "catalog duplicates", "[flags]", `
List the records that share an OCLC number: the same bibliographic record
stored more than once, for a cataloger to check. Groups with the most recent
change first. Records marked deleted (STA DELETED) are left out unless --all.`)
	cfgPath := configFlag(fs)
	all := fs.Bool("all", false, "count records marked deleted too")
	limit := fs.Int("limit", catalog.DefaultDuplicateGroups, "show at most `N` groups")
	asJSON := fs.Bool("json", false, "print JSON for scripts")
	pos, err := parseAdminArgs(e, fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return adminUsageError(e, fs, "unexpected argument %q", pos[0])
	}
	if *limit <= 0 {
		return adminUsageError(e, fs, "--limit must be at least 1")
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	a, err := openAdmin(ctx, e, cfg, true)
	if err != nil {
		return err
	}
	defer a.Close()
	groups, err := a.catalog.Duplicates(ctx, catalog.DuplicatesOptions{IncludeDeleted: *all, Limit: *limit})
	if err != nil {
		return err
	}
	loc := cfg.Bot.Location()
	if *asJSON {
		type groupJSON struct {
			OCLCNumber string              `json:"oclc_number"`
			Records    []catalogRecordJSON `json:"records"`
		}
		out := make([]groupJSON, len(groups))
		for i, g := range groups {
			out[i].OCLCNumber = g.OCLCNumber
			out[i].Records = make([]catalogRecordJSON, len(g.Records))
			for j := range g.Records {
				out[i].Records[j] = newCatalogRecordJSON(a.catalog, &g.Records[j], loc)
			}
		}
		return writeJSON(e.stdout, out)
	}
	if len(groups) == 0 {
		fmt.Fprintln(e.stdout, "no duplicates: no OCLC number is carried by more than one record")
		return nil
	}
	tw := newTable(e.stdout)
	fmt.Fprintln(tw, "OCLC\tSYSTEM NUMBER\tVER\tUPDATED\tHOLDINGS\tTITLE")
	for _, g := range groups {
		for i := range g.Records {
			r := &g.Records[i]
			num := g.OCLCNumber
			if i > 0 {
				num = ""
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", num, a.catalog.Display(r.SystemNumber), r.Version,
				adminTime(r.Updated, loc), dash(strings.Join(r.Holdings, " ")), recordTitle(r))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s sharing an OCLC number\n", pluralize(len(groups), "group"))
	return nil
}

func catalogStats(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "catalog stats", "[flags]", "Count the catalog's records, versions and OCLC numbers.")
	cfgPath := configFlag(fs)
	pos, err := parseAdminArgs(e, fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return adminUsageError(e, fs, "unexpected argument %q", pos[0])
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	a, err := openAdmin(ctx, e, cfg, true)
	if err != nil {
		return err
	}
	defer a.Close()
	s, err := a.catalog.Stats(ctx)
	if err != nil {
		return err
	}
	loc := cfg.Bot.Location()
	last := "-"
	if s.LastSystemNumber != 0 {
		last = a.catalog.Display(s.LastSystemNumber)
	}
	fmt.Fprintf(e.stdout, "records:             %d (%d marked deleted)\n", s.Records, s.Deleted)
	fmt.Fprintf(e.stdout, "versions:            %d\n", s.Versions)
	fmt.Fprintf(e.stdout, "OCLC numbers:        %d (%d carried by more than one record)\n", s.OCLCNumbers, s.DuplicateNumbers)
	fmt.Fprintf(e.stdout, "last system number:  %s\n", last)
	fmt.Fprintf(e.stdout, "last change:         %s\n", adminTime(s.LastChange, loc))
	fmt.Fprintf(e.stdout, "canary exports:      %d, last %s\n", s.Canaries, adminTime(s.LastCanary, loc))
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
