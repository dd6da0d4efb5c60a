package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/oclcbot/oclcbot/incidents"
	"github.com/oclcbot/oclcbot/receiver/relay"
)

func runQueue(ctx context.Context, e *env, args []string) error {
	return runAdminSubs(ctx, e, "queue", `
The relay queue (relay mode only): records the upstream ILS did not take,
kept by oclcbot and delivered in order by the running daemon. "uncertain"
records may or may not have reached the ILS: check the ILS, then retry one
(it was not imported) or drop it (it was, or it will be exported again).`,
		[]adminSub{
			{"list", "list the records waiting for the ILS (or all with --all)", queueList},
			{"show", "show one queue entry with its record", queueShow},
			{"retry", "deliver queued records now (uncertain ones only by ID)", queueRetry},
			{"drop", "give up on records: they must be exported again", queueDrop},
		}, args)
}

// openQueue loads the configuration, checks that it is in relay mode, and
// opens the stores.
func openQueue(ctx context.Context, c *adminCmd) (*app, error) {
	if err := c.load(); err != nil {
		return nil, err
	}
	if c.cfg.Relay == nil {
		name := *c.cfgPath
		if name == "" {
			name = "the built-in defaults"
		}
		return nil, fmt.Errorf("the queue is used only in relay mode, and %s has no [relay] section (records go to the embedded catalog)", name)
	}
	return c.open(ctx, true)
}

var queueStates = relay.States()

func queueList(ctx context.Context, e *env, args []string) error {
	c := newAdminCmd(e, "queue list", "[flags]", `
List the relay queue, oldest first: by default the records still needing
something (queued, sending, uncertain); --all adds the delivered and dropped
ones kept for the record.`)
	all := c.fs.Bool("all", false, "list entries in every state")
	state := c.fs.String("state", "", "only entries in these `states` (comma-separated): queued, sending, uncertain, delivered, dropped")
	limit := c.limitFlag(100, "show at most `N` entries")
	asJSON := c.jsonFlag()
	if err := c.parse(args, noArgs); err != nil {
		return err
	}
	opt := relay.ListOptions{Limit: *limit}
	if *all {
		opt.States = queueStates
	}
	states, err := parseStates(c, *state, queueStates)
	if err != nil {
		return err
	}
	opt.States = append(opt.States, states...)
	a, err := openQueue(ctx, c)
	if err != nil {
		return err
	}
	defer a.Close()
	list, err := a.relay.List(ctx, opt)
	if err != nil {
		return err
	}
	loc := c.loc
	if *asJSON {
		return writeJSON(e.stdout, jsonForms(list, func(q relay.Entry) queueEntryJSON { return newQueueEntryJSON(&q, loc) }))
	}
	st, err := a.relay.Stats(ctx)
	if err != nil {
		return err
	}
	if len(list) == 0 {
		if opt.States == nil {
			fmt.Fprintf(e.stdout, "queue is empty: nothing waits for %s\n", a.relay.Upstream())
		} else {
			fmt.Fprintln(e.stdout, "no queue entries match")
		}
		return nil
	}
	t := newTable(e.stdout, "ID", "STATE", "TRIES", "EXPORTED", "USER", "OCLC", "TITLE", "NEXT/DONE", "INFO")
	for i := range list {
		q := &list[i]
		when := adminTime(q.NextAttempt, loc)
		switch q.State {
		case relay.StateDelivered, relay.StateDropped:
			when = adminTime(q.Done, loc)
		case relay.StateUncertain, relay.StateHeld:
			when = "operator"
		}
		t.row(q.ID, q.State, q.Attempts, adminTime(q.Received, loc),
			dash(q.User), dash(q.OCLCNumber), dash(clip(q.Title, 50)), when, dash(clip(queueInfo(q), 70)))
	}
	if err := t.flush(); err != nil {
		return err
	}
	if st.Waiting > 0 || st.Uncertain > 0 || st.Held > 0 {
		fmt.Fprintf(e.stdout, "%s waiting for %s", pluralize(st.Waiting, "record"), a.relay.Upstream())
		if !st.Oldest.IsZero() {
			fmt.Fprintf(e.stdout, ", the oldest exported %s (%s ago)", adminTime(st.Oldest, loc), st.OldestAge.Round(time.Second))
		}
		fmt.Fprintln(e.stdout)
		if st.Uncertain > 0 {
			fmt.Fprintf(e.stdout, "%s uncertain: check the ILS, then `oclcbot queue retry ID` or `oclcbot queue drop ID --reason ...`\n",
				pluralize(st.Uncertain, "record"))
		}
		if st.Held > 0 {
			fmt.Fprintf(e.stdout, "%s refused by the ILS and set aside: correct it there, then `oclcbot queue retry ID` or `oclcbot queue drop ID --reason ...`\n",
				pluralize(st.Held, "record"))
		}
	}
	return nil
}

// queueInfo is the entry's latest news: why it failed, why it was
// dropped, or what the upstream said.
func queueInfo(q *relay.Entry) string {
	switch {
	case q.State == relay.StateDropped:
		return "dropped: " + q.DropReason
	case q.LastError != "":
		return q.LastError
	case q.Upstream != "":
		return "upstream: " + q.Upstream
	}
	return q.Cause
}

func queueShow(ctx context.Context, e *env, args []string) error {
	c := newAdminCmd(e, "queue show", "[flags] ID", "Show queue entry ID (from oclcbot queue list) with its record in MARC mnemonic form.")
	a, ids, err := startQueue(ctx, c, args, exactArgs(1, "give one queue entry ID"))
	if err != nil {
		return err
	}
	defer a.Close()
	q, err := a.relay.Get(ctx, ids[0])
	if errors.Is(err, relay.ErrNotFound) {
		return fmt.Errorf("no queue entry %d", ids[0])
	}
	if err != nil {
		return err
	}
	raw, err := a.relay.Record(ctx, q.ID)
	if err != nil {
		return err
	}
	loc := c.loc
	b := &strings.Builder{}
	fmt.Fprintf(b, "Queue entry %d: %s\n", q.ID, q.State)
	fmt.Fprintf(b, "  exported:      %s by %s from %s", adminTime(q.Received, loc), dash(q.User), dash(q.RemoteAddr))
	if q.RequestID != 0 {
		fmt.Fprintf(b, " (request %d, record %d)", q.RequestID, q.RecordIndex+1)
	}
	fmt.Fprintln(b)
	fmt.Fprintf(b, "  queued:        %s, because %s (%s)\n", adminTime(q.Queued, loc), dash(q.Cause), incidents.CauseWords(q.Cause))
	fmt.Fprintf(b, "  OCLC number:   %s\n  title:         %s\n", dash(q.OCLCNumber), dash(q.Title))
	fmt.Fprintf(b, "  attempts:      %d, last %s, next %s\n", q.Attempts, adminTime(q.LastAttempt, loc), adminTime(q.NextAttempt, loc))
	if q.LastError != "" {
		fmt.Fprintf(b, "  last error:    %s\n", q.LastError)
	}
	if q.Upstream != "" {
		fmt.Fprintf(b, "  upstream said: %s\n", q.Upstream)
	}
	if q.SystemNumber != "" {
		fmt.Fprintf(b, "  ILS record:    %s\n", q.SystemNumber)
	}
	if !q.Done.IsZero() {
		fmt.Fprintf(b, "  done:          %s\n", adminTime(q.Done, loc))
	}
	if q.DropReason != "" {
		fmt.Fprintf(b, "  dropped:       %s\n", q.DropReason)
	}
	fmt.Fprintf(b, "\nRecord (%d bytes):\n%s\n", len(raw), indent(incidents.Printout(raw), "  "))
	_, err = fmt.Fprint(e.stdout, b.String())
	return err
}

// startQueue is start for a subcommand that takes queue entry IDs: parse,
// read the IDs, then openQueue.
func startQueue(ctx context.Context, c *adminCmd, args []string, n argCount) (*app, []int64, error) {
	if err := c.parse(args, n); err != nil {
		return nil, nil, err
	}
	ids, err := queueIDs(c)
	if err != nil {
		return nil, nil, err
	}
	a, err := openQueue(ctx, c)
	if err != nil {
		return nil, nil, err
	}
	return a, ids, nil
}

// queueIDs reads the positional arguments as queue entry IDs; a wrong one
// is a usage error.
func queueIDs(c *adminCmd) ([]int64, error) {
	ids := make([]int64, len(c.pos))
	for i, s := range c.pos {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil || id <= 0 {
			return nil, c.usageError("%q is not a queue entry ID (a number from oclcbot queue list)", s)
		}
		ids[i] = id
	}
	return ids, nil
}

func queueRetry(ctx context.Context, e *env, args []string) error {
	c := newAdminCmd(e, "queue retry", "[flags] [ID...]", `
Make records due for delivery now and reset their backoff; the running
daemon (oclcbot serve) delivers them within a few seconds, oldest first.
Without IDs every queued record, and every record set aside because the
ILS refused it (held), is retried. Uncertain records are retried only when
named, because the ILS may already have them: check it first.`)
	a, ids, err := startQueue(ctx, c, args, anyArgs)
	if err != nil {
		return err
	}
	defer a.Close()
	if len(ids) == 0 {
		n, err := a.relay.Retry(ctx)
		if err != nil {
			return err
		}
		if n == 0 {
			fmt.Fprintln(e.stdout, "queue is empty: no queued record to retry")
		} else {
			fmt.Fprintf(e.stdout, "%s due now: the running daemon delivers them to %s, oldest first\n", pluralize(n, "record"), a.relay.Upstream())
		}
		if st, err := a.relay.Stats(ctx); err == nil && st.Uncertain > 0 {
			fmt.Fprintf(e.stdout, "%s uncertain, not retried: check the ILS, then name them (oclcbot queue retry ID)\n", pluralize(st.Uncertain, "record"))
		}
		return nil
	}
	return forEachArg(c, ids, func(id int64) error {
		if _, err := a.relay.Retry(ctx, id); err != nil {
			return queueError(ctx, a.relay, id, err, "retried")
		}
		fmt.Fprintf(e.stdout, "%d due now\n", id)
		return nil
	})
}

// queueError explains why entry id could not be retried or dropped.
func queueError(ctx context.Context, r *relay.Relay, id int64, err error, verb string) error {
	switch {
	case errors.Is(err, relay.ErrNotFound):
		return fmt.Errorf("no queue entry %d", id)
	case errors.Is(err, relay.ErrWrongState):
		if q, gerr := r.Get(ctx, id); gerr == nil {
			switch q.State {
			case relay.StateSending:
				return fmt.Errorf("entry %d is being sent now: try again when its attempt ends", id)
			default:
				return fmt.Errorf("entry %d is %s: only queued, uncertain and held records can be %s", id, q.State, verb)
			}
		}
	}
	return err
}

func queueDrop(ctx context.Context, e *env, args []string) error {
	c := newAdminCmd(e, "queue drop", "[flags] ID... --reason TEXT", `
Give up delivering queued, uncertain or held records. A dropped record never
reached the ILS through oclcbot: the cataloger must export it again (the
incident's SOLVED notice says so). The entry is kept, with the reason and
who dropped it.`)
	reason := c.fs.String("reason", "", "why (required): e.g. \"imported by hand in the ILS\"")
	by := c.byFlag("who is dropping them")
	if err := c.parse(args, someArgs("give the ID of each entry to drop")); err != nil {
		return err
	}
	ids, err := queueIDs(c)
	if err != nil {
		return err
	}
	if strings.TrimSpace(*reason) == "" {
		return c.usageError("--reason is required, so that others know why the record was not delivered")
	}
	if strings.TrimSpace(*by) == "" {
		return c.usageError("--by must name who drops them")
	}
	a, err := openQueue(ctx, c)
	if err != nil {
		return err
	}
	defer a.Close()
	// The relay keeps a reason but no actor: record who in the reason.
	why := strings.TrimSpace(*reason) + " (dropped by " + strings.TrimSpace(*by) + ")"
	return forEachArg(c, ids, func(id int64) error {
		q, err := a.relay.Get(ctx, id)
		if err == nil {
			err = a.relay.Drop(ctx, id, why)
		}
		if err != nil {
			return queueError(ctx, a.relay, id, err, "dropped")
		}
		fmt.Fprintf(e.stdout, "dropped %d: OCLC %s %q, exported by %s at %s: it was NOT delivered and must be exported again\n",
			id, dash(q.OCLCNumber), q.Title, dash(q.User), adminTime(q.Received, c.loc))
		return nil
	})
}

// queueEntryJSON is the stable JSON form of a queue entry.
type queueEntryJSON struct {
	ID           int64  `json:"id"`
	State        string `json:"state"`
	Cause        string `json:"cause,omitempty"`
	Attempts     int    `json:"attempts"`
	LastError    string `json:"last_error,omitempty"`
	LastAttempt  string `json:"last_attempt,omitempty"`
	NextAttempt  string `json:"next_attempt,omitempty"`
	OCLCNumber   string `json:"oclc_number,omitempty"`
	Title        string `json:"title,omitempty"`
	User         string `json:"user,omitempty"`
	RemoteAddr   string `json:"remote_addr,omitempty"`
	Received     string `json:"received"`
	Queued       string `json:"queued"`
	RequestID    uint64 `json:"request_id"`
	RecordIndex  int    `json:"record_index"`
	Bytes        int    `json:"bytes"`
	Upstream     string `json:"upstream,omitempty"`
	SystemNumber string `json:"system_number,omitempty"`
	Done         string `json:"done,omitempty"`
	DropReason   string `json:"drop_reason,omitempty"`
	Refusals     int    `json:"refusals,omitempty"`
	Held         string `json:"held,omitempty"`
}

func newQueueEntryJSON(q *relay.Entry, loc *time.Location) queueEntryJSON {
	return queueEntryJSON{
		ID: q.ID, State: string(q.State), Cause: q.Cause, Attempts: q.Attempts, LastError: q.LastError,
		LastAttempt: jsonTime(q.LastAttempt, loc), NextAttempt: jsonTime(q.NextAttempt, loc),
		OCLCNumber: q.OCLCNumber, Title: q.Title, User: q.User, RemoteAddr: q.RemoteAddr,
		Received: jsonTime(q.Received, loc), Queued: jsonTime(q.Queued, loc),
		RequestID: q.RequestID, RecordIndex: q.RecordIndex, Bytes: q.Bytes,
		Upstream: q.Upstream, SystemNumber: q.SystemNumber, Done: jsonTime(q.Done, loc), DropReason: q.DropReason,
		Refusals: q.Refusals, Held: jsonTime(q.Held, loc),
	}
}
