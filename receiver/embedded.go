package receiver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/oclcbot/oclcbot/catalog"
	"github.com/oclcbot/oclcbot/db"
	"github.com/oclcbot/oclcbot/exportlog"
)

// CatalogSinkName is the embedded catalog sink's Name: its detector
// target and the export log's Target for the records it handles.
const CatalogSinkName = "catalog"

// CatalogConfig configures NewCatalogSink.
type CatalogConfig struct {
	// Catalog stores the records; its database is where every decision
	// is read and written, in one write transaction per record. Required.
	Catalog *catalog.Catalog
	// Duplicates is the repeated-export policy (DefaultDuplicates when
	// zero; a zero Window means DefaultDuplicates.Window).
	Duplicates Duplicates
	// Holdings are the library's own 049 $a codes (such as "HVDA",
	// "HVDB"): a targeting 035 may overlay only a record that carries one
	// of them. With none, any record may be targeted.
	Holdings []string
	// Now is the clock (time.Now when nil). It stamps each version and
	// decides what falls within the repeated-export window.
	Now func() time.Time
	// Logger receives the sink's logs (component=catalog-sink); nil
	// discards them.
	Logger *slog.Logger
}

// CatalogSink is the Sink of the embedded catalog. For each record it
// decides, in order, and within ONE write transaction of the catalog's
// database (so that two exports racing for the same OCLC number are
// decided one after the other, each seeing the other's result):
//
//  1. Targeting (Item.Target set): the record named must exist
//     (else OutcomeRejected, CauseTargetNotFound) and carry one of our
//     049 codes (else CauseTargetNotOurs); it is overlaid
//     (OutcomeMerged, SystemNumber the target).
//  2. Repeated export: a record whose current content came from an
//     export with the same OCLC number and the same Hash within the
//     window. Result.Previous names it and when it was received, and
//     Result.Policy says what the policy did:
//     skip: nothing changes (OutcomeDuplicate, ClassRecord,
//     CauseDuplicate, SystemNumber the earlier record);
//     overlay: the earlier record is overlaid (OutcomeDuplicate,
//     SystemNumber that record: the reply must still say it was a
//     repeat, which "merged" would not);
//     mark-deleted: the repeat is stored as a new record, which is then
//     marked "STA 1_ $a DELETED" (OutcomeDuplicate, SystemNumber the
//     new, deleted copy).
//  3. Matching by every OCLC number the record carries (001, 035, 019)
//     against records not marked deleted: none, or no OCLC number at all,
//     adds a record (OutcomeAdded); one overlays it (OutcomeMerged); more
//     than one refuses the record (OutcomeRejected, CauseAmbiguousMatch,
//     Sharing listing them) and nothing changes.
//
// Result.Sharing lists the other records (not marked deleted) that share
// an OCLC number with the record, for the reply's duplicate hint.
//
// A canary export runs the same decision and writes inside a savepoint
// that is rolled back (catalog.Txn.DryRun), so the probe exercises a
// real write and commit while nothing of the record remains; it is
// reported as OutcomeCanary whenever the catalog answered, with what
// would have happened in Detail.
//
// A record the catalog could not commit (disk full, read-only or locked
// database, closed database) is OutcomeFailed, ClassSystem,
// CauseStorage, with the database's error in Detail; a Result never
// says a record is safe unless its transaction committed. A record the
// catalog cannot store at all (too long once converted) is
// OutcomeRejected, ClassRecord, CauseInvalidRecord.
type CatalogSink struct {
	cat      *catalog.Catalog
	dup      Duplicates
	holdings []string
	now      func() time.Time
	log      *slog.Logger
}

var _ Sink = (*CatalogSink)(nil)

// NewCatalogSink checks cfg and returns the sink.
func NewCatalogSink(cfg CatalogConfig) (*CatalogSink, error) {
	if cfg.Catalog == nil {
		return nil, errors.New("catalog sink: no catalog")
	}
	if cfg.Duplicates.Policy == "" {
		cfg.Duplicates.Policy = DefaultDuplicates.Policy
	}
	if !cfg.Duplicates.Policy.Valid() {
		return nil, fmt.Errorf("catalog sink: unknown duplicate policy %q (want %s, %s or %s)",
			cfg.Duplicates.Policy, DuplicateSkip, DuplicateOverlay, DuplicateMarkDeleted)
	}
	if cfg.Duplicates.Window < 0 {
		return nil, fmt.Errorf("catalog sink: negative duplicate window %v", cfg.Duplicates.Window)
	}
	if cfg.Duplicates.Window == 0 {
		cfg.Duplicates.Window = DefaultDuplicates.Window
	}
	s := &CatalogSink{cat: cfg.Catalog, dup: cfg.Duplicates, now: cfg.Now, log: cfg.Logger}
	for _, h := range cfg.Holdings {
		if h = strings.TrimSpace(h); h != "" {
			s.holdings = append(s.holdings, h)
		}
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With(slog.String("component", "catalog-sink"))
	return s, nil
}

// Name returns CatalogSinkName ("catalog").
func (s *CatalogSink) Name() string { return CatalogSinkName }

// Deliver stores exp.Items one after the other, each in its own write
// transaction, and returns their Results in order (see CatalogSink). It
// returns once every outcome is final: a success is committed.
func (s *CatalogSink) Deliver(ctx context.Context, exp *Export) []Result {
	results := make([]Result, len(exp.Items))
	for i, it := range exp.Items {
		start := s.now()
		results[i] = s.deliverOne(ctx, exp, it)
		results[i].Elapsed = s.now().Sub(start)
	}
	return results
}

func (s *CatalogSink) deliverOne(ctx context.Context, exp *Export, it *Item) Result {
	if it == nil || it.Record == nil {
		return Result{Outcome: exportlog.OutcomeFailed, Class: exportlog.ClassSystem, Cause: exportlog.CauseInternal,
			Detail: "catalog sink was given an item without a prepared record"}
	}
	src := s.source(exp)
	p, err := s.cat.Prepare(catalog.Input{
		Record: it.Record, Original: it.Raw, OCLCNumber: it.OCLCNumber, OCLCNumbers: it.OCLCNumbers,
		Hash: it.Hash, Source: src,
	})
	if err != nil {
		return Result{Outcome: exportlog.OutcomeRejected, Class: exportlog.ClassRecord, Cause: exportlog.CauseInvalidRecord,
			Detail: "the catalog cannot store this record: " + err.Error()}
	}
	var res Result
	var recorded func(error) // the attempt written with the record (Export.RecordIn)
	err = s.cat.Write(ctx, func(tx *catalog.Txn) error {
		if !exp.Canary {
			var err error
			res, err = s.decide(ctx, tx, it, p, src)
			if err == nil && exp.RecordIn != nil && len(exp.Items) == 1 {
				recorded = exp.RecordIn(tx.SQL(), res)
			}
			return err
		}
		return tx.DryRun(ctx, func() error {
			var err error
			res, err = s.decide(ctx, tx, it, p, src)
			return err
		})
	})
	if recorded != nil {
		recorded(err)
	}
	if err != nil {
		return s.failure(ctx, it, err)
	}
	if exp.Canary {
		return canaryResult(res)
	}
	return res
}

// source describes exp for the records' history.
func (s *CatalogSink) source(exp *Export) catalog.Source {
	src := catalog.Source{Time: s.now(), User: exp.User}
	if req := exp.Request; req != nil {
		src.RequestID = req.ID
		if req.RemoteAddr != nil {
			src.RemoteAddr = req.RemoteAddr.String()
		}
		if src.User == "" {
			src.User, _ = req.Credentials()
		}
	}
	return src
}

// decide applies the rules to one record inside the write transaction
// and makes the writes they call for. An error is the catalog's (the
// transaction is then rolled back); a refusal is a Result.
func (s *CatalogSink) decide(ctx context.Context, tx *catalog.Txn, it *Item, p *catalog.Prepared, src catalog.Source) (Result, error) {
	others, err := tx.FindByOCLC(ctx, p.OCLCNumbers()...)
	if err != nil {
		return Result{}, err
	}
	if it.Target != "" {
		return s.target(ctx, tx, it, p, others)
	}
	// others holds every record carrying one of the numbers, so the
	// repeat check needs no query of its own (catalog.Txn.FindRepeat).
	prev := catalog.RepeatIn(others, p.OCLCNumber(), p.Hash(), src.Time.Add(-s.dup.Window))
	if prev != nil && !prev.Deleted {
		// (A repeat of a copy already marked deleted, when no live
		// record holds that content any more, is matched as new.)
		return s.repeat(ctx, tx, p, src, prev, others)
	}
	live := slices.DeleteFunc(slices.Clone(others), func(o catalog.Summary) bool { return o.Deleted })
	switch len(live) {
	case 0:
		n, err := tx.Insert(ctx, p)
		if err != nil {
			return Result{}, err
		}
		return Result{Outcome: exportlog.OutcomeAdded, SystemNumber: n.String()}, nil
	case 1:
		n := live[0].SystemNumber
		ver, err := tx.Overlay(ctx, n, p)
		if err != nil {
			return Result{}, err
		}
		return Result{Outcome: exportlog.OutcomeMerged, SystemNumber: n.String(),
			Detail: fmt.Sprintf("matched by OCLC number %s; now version %d", sharedNumber(p, live[0]), ver)}, nil
	}
	nums := sharing(live, 0)
	return Result{Outcome: exportlog.OutcomeRejected, Class: exportlog.ClassRecord, Cause: exportlog.CauseAmbiguousMatch,
		Sharing: nums,
		Detail:  fmt.Sprintf("OCLC number(s) %s match %d catalog records (%s); none was changed", strings.Join(p.OCLCNumbers(), ", "), len(live), strings.Join(nums, ", "))}, nil
}

// target overlays the record Item.Target names, if it exists and is
// ours.
func (s *CatalogSink) target(ctx context.Context, tx *catalog.Txn, it *Item, p *catalog.Prepared, others []catalog.Summary) (Result, error) {
	n, err := catalog.ParseSystemNumber(it.Target, s.cat.LibraryCode())
	if err != nil {
		return Result{Outcome: exportlog.OutcomeRejected, Class: exportlog.ClassRecord, Cause: exportlog.CauseTargetNotFound,
			Detail: fmt.Sprintf("the targeting 035 names %q, which is not a system number of this catalog", it.Target)}, nil
	}
	sum, err := tx.Summary(ctx, n)
	if errors.Is(err, catalog.ErrNotFound) {
		return Result{Outcome: exportlog.OutcomeRejected, Class: exportlog.ClassRecord, Cause: exportlog.CauseTargetNotFound,
			Detail: fmt.Sprintf("the targeting 035 names system number %s, which the catalog does not have", n)}, nil
	}
	if err != nil {
		return Result{}, err
	}
	if len(s.holdings) > 0 && !sum.Holds(s.holdings...) {
		held := "no 049"
		if len(sum.Holdings) > 0 {
			held = "049 " + strings.Join(sum.Holdings, ", ")
		}
		return Result{Outcome: exportlog.OutcomeRejected, Class: exportlog.ClassRecord, Cause: exportlog.CauseTargetNotOurs,
			SystemNumber: n.String(),
			Detail:       fmt.Sprintf("targeted record %s has %s, none of ours (%s); it was not changed", n, held, strings.Join(s.holdings, ", "))}, nil
	}
	ver, err := tx.Overlay(ctx, n, p)
	if err != nil {
		return Result{}, err
	}
	detail := fmt.Sprintf("targeted by 035; now version %d", ver)
	if sum.Deleted {
		detail += "; the record had been marked deleted"
	}
	return Result{Outcome: exportlog.OutcomeMerged, SystemNumber: n.String(), Sharing: sharing(others, n), Detail: detail}, nil
}

// repeat applies the duplicate policy to a repeat of prev.
func (s *CatalogSink) repeat(ctx context.Context, tx *catalog.Txn, p *catalog.Prepared, src catalog.Source, prev *catalog.Summary, others []catalog.Summary) (Result, error) {
	res := Result{
		Outcome:  exportlog.OutcomeDuplicate,
		Policy:   s.dup.Policy,
		Previous: &Previous{SystemNumber: prev.SystemNumber.String(), Time: prev.Received},
	}
	when := prev.Received.Format(time.RFC3339)
	switch s.dup.Policy {
	case DuplicateOverlay:
		ver, err := tx.Overlay(ctx, prev.SystemNumber, p)
		if err != nil {
			return Result{}, err
		}
		res.SystemNumber = prev.SystemNumber.String()
		res.Sharing = sharing(others, prev.SystemNumber)
		res.Detail = fmt.Sprintf("repeat of the export received at %s; policy overlay: record %s overlaid, now version %d", when, prev.SystemNumber, ver)
	case DuplicateMarkDeleted:
		n, err := tx.Insert(ctx, p)
		if err != nil {
			return Result{}, err
		}
		if _, err := tx.MarkDeleted(ctx, n, src); err != nil {
			return Result{}, err
		}
		res.SystemNumber = n.String()
		res.Sharing = sharing(others, n)
		res.Detail = fmt.Sprintf("repeat of record %s received at %s; policy mark-deleted: stored as %s and marked STA DELETED", prev.SystemNumber, when, n)
	default:
		res.Class, res.Cause = exportlog.ClassRecord, exportlog.CauseDuplicate
		res.Policy = DuplicateSkip
		res.SystemNumber = prev.SystemNumber.String()
		res.Sharing = sharing(others, prev.SystemNumber)
		res.Detail = fmt.Sprintf("repeat of record %s received at %s (same OCLC number and content); policy skip: nothing changed", prev.SystemNumber, when)
	}
	return res, nil
}

// failure reports a record the catalog did not commit.
func (s *CatalogSink) failure(ctx context.Context, it *Item, err error) Result {
	res := Result{Outcome: exportlog.OutcomeFailed, Class: exportlog.ClassSystem, Cause: exportlog.CauseStorage}
	switch {
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		// The export ended before the write began: nothing is broken.
		res.Class, res.Cause = exportlog.ClassTransport, exportlog.CauseClientGone
		res.Detail = "not stored: the export was abandoned before the catalog write began (" + err.Error() + ")"
	case errors.Is(err, db.ErrClosed):
		res.Detail = "not stored: the catalog database is closed (shutting down)"
	case errors.Is(err, catalog.ErrExhausted):
		res.Detail = "not stored: the catalog has given out every nine-digit system number"
	default:
		res.Detail = "not stored: the catalog database failed: " + err.Error()
	}
	if res.Class == exportlog.ClassSystem {
		s.log.Error("catalog write failed; record not stored", slog.String("oclc", it.OCLCNumber), slog.Any("err", err))
	}
	return res
}

// canaryResult reports a canary export whose dry run went through: the
// catalog answered; nothing was kept.
func canaryResult(res Result) Result {
	would := string(res.Outcome)
	if res.SystemNumber != "" {
		would += " as " + res.SystemNumber
	}
	return Result{Outcome: exportlog.OutcomeCanary,
		Detail: "canary export: the catalog write went through and was rolled back (it would have been " + would + ")"}
}

// sharing returns the system numbers of the records in ss not marked
// deleted, except.
func sharing(ss []catalog.Summary, except catalog.SystemNumber) []string {
	var out []string
	for _, o := range ss {
		if !o.Deleted && o.SystemNumber != except {
			out = append(out, o.SystemNumber.String())
		}
	}
	return out
}

// sharedNumber names the OCLC number p and o have in common, for the
// log (o's primary one when it is among them).
func sharedNumber(p *catalog.Prepared, o catalog.Summary) string {
	nums := p.OCLCNumbers()
	if slices.Contains(nums, o.OCLCNumber) {
		return o.OCLCNumber
	}
	return strings.Join(nums, "/")
}
