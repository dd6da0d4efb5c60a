package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/oclcbot/oclcbot/incidents"
	isqlite "github.com/oclcbot/oclcbot/incidents/sqlite"
)

func runOutbox(ctx context.Context, e *env, args []string) error {
	return runAdminSubs(ctx, e, "outbox", `
The outbox: every notification the bot decided to send, per channel, with
its delivery state. The running daemon (oclcbot serve) delivers it; a
notification it gave up on (a permanent error, or too old) is a dead letter
until retried.`,
		[]adminSub{
			{"list", "list notifications, newest first", outboxList},
			{"dead", "list the dead letters: notifications given up on", outboxDead},
			{"show", "show one notification as rendered", outboxShow},
			{"retry", "send dead letters again, or a waiting notification now", outboxRetry},
		}, args)
}

var deliveryStates = []incidents.Delivery{incidents.DeliveryPending, incidents.DeliverySending, incidents.DeliverySent, incidents.DeliveryDead}

func outboxList(ctx context.Context, e *env, args []string) error {
	return outboxListing(ctx, e, "list", args, nil)
}

func outboxDead(ctx context.Context, e *env, args []string) error {
	return outboxListing(ctx, e, "dead", args, []incidents.Delivery{incidents.DeliveryDead})
}

// outboxListing is list (states nil: --state decides) and dead.
func outboxListing(ctx context.Context, e *env, name string, args []string, states []incidents.Delivery) error {
	about := "List notifications, newest first. Times are local (bot.time_zone)."
	if states != nil {
		about = `
List the dead letters, newest first: notifications the daemon gave up on
(a permanent error, or still failing after bot.retry.max_age), and those
given up with them because the ALERT of their thread was not delivered.
Fix the channel, then: oclcbot outbox retry [KEY...]`
	}
	fs := newFlags(e, "outbox "+name, "[flags]", about)
	cfgPath := configFlag(fs)
	var state *string
	if states == nil {
		state = fs.String("state", "", "only notifications in these `states` (comma-separated): pending, sending, sent, dead")
	}
	channel := fs.String("channel", "", "only this `channel` (log, listserv, slack, ois, ...)")
	incident := fs.String("incident", "", "only notifications about incident `ID`")
	limit := fs.Int("limit", 50, "show at most `N` notifications")
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
	f := isqlite.OutboxFilter{States: states, Channel: *channel, Limit: *limit}
	if state != nil && *state != "" {
		for _, s := range strings.Split(*state, ",") {
			st := incidents.Delivery(strings.ToLower(strings.TrimSpace(s)))
			if !validDelivery(st) {
				return adminUsageError(e, fs, "--state %q: want pending, sending, sent or dead", s)
			}
			f.States = append(f.States, st)
		}
	}
	if *incident != "" {
		id, err := incidents.CanonicalID(*incident)
		if err != nil {
			return adminUsageError(e, fs, "--incident %q is not an incident id", *incident)
		}
		f.Incident = id
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	loc := cfg.Bot.Location()
	a, err := openAdmin(ctx, e, cfg, true)
	if err != nil {
		return err
	}
	defer a.Close()
	ns, err := a.incidents.Outbox(ctx, f)
	if err != nil {
		return err
	}
	if *asJSON {
		out := make([]notificationJSON, len(ns))
		for i := range ns {
			out[i] = newNotificationJSON(&ns[i], loc)
		}
		return writeJSON(e.stdout, out)
	}
	if len(ns) == 0 {
		switch {
		case states != nil && f.Channel == "" && f.Incident == "":
			fmt.Fprintln(e.stdout, "no dead letters: every notification was delivered or is on its way")
		case f.States == nil && f.Channel == "" && f.Incident == "":
			fmt.Fprintln(e.stdout, "the outbox is empty")
		default:
			fmt.Fprintln(e.stdout, "no notifications match")
		}
		return nil
	}
	if err := incidents.WriteOutbox(e.stdout, ns, loc); err != nil {
		return err
	}
	if states != nil {
		fmt.Fprintln(e.stdout, "\nFix the channel, then send them again: oclcbot outbox retry [KEY...]")
	}
	return nil
}

func validDelivery(st incidents.Delivery) bool {
	for _, s := range deliveryStates {
		if s == st {
			return true
		}
	}
	return false
}

func outboxShow(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "outbox show", "[flags] KEY", "Show notification KEY (from oclcbot outbox list): its delivery and its text as rendered.")
	cfgPath := configFlag(fs)
	pos, err := parseAdminArgs(e, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return adminUsageError(e, fs, "give one notification KEY")
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	loc := cfg.Bot.Location()
	a, err := openAdmin(ctx, e, cfg, true)
	if err != nil {
		return err
	}
	defer a.Close()
	n, err := a.incidents.Notification(ctx, pos[0])
	if errors.Is(err, incidents.ErrNotFound) {
		return fmt.Errorf("no notification %s in the outbox", pos[0])
	}
	if err != nil {
		return err
	}
	b := &strings.Builder{}
	fmt.Fprintf(b, "Notification %s: %s\n", n.Key, n.State)
	fmt.Fprintf(b, "  channel:   %s\n  kind:      %s\n  incident:  %s\n", n.Channel, n.Kind, dash(n.Incident))
	fmt.Fprintf(b, "  created:   %s\n  attempts:  %d\n", adminTime(n.Created, loc), n.Attempts)
	switch n.State {
	case incidents.DeliveryPending, incidents.DeliverySending:
		fmt.Fprintf(b, "  next:      %s\n", adminTime(n.NextAt, loc))
	case incidents.DeliverySent:
		fmt.Fprintf(b, "  sent:      %s\n", adminTime(n.Sent, loc))
	}
	if n.LastError != "" {
		fmt.Fprintf(b, "  error:     %s\n", n.LastError)
	}
	if n.SkippedFor != "" {
		fmt.Fprintf(b, "  given up because %s, which opened its thread, was not delivered\n", n.SkippedFor)
	}
	if n.ThreadKey != "" && n.ThreadKey != n.Key {
		fmt.Fprintf(b, "  thread:    %s\n", n.ThreadKey)
	}
	if n.Subject != "" {
		fmt.Fprintf(b, "\nSubject: %s\n", n.Subject)
	}
	fmt.Fprintf(b, "\n%s\n", strings.TrimRight(n.Body, "\n"))
	_, err = fmt.Fprint(e.stdout, b.String())
	return err
}

func outboxRetry(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "outbox retry", "[flags] [KEY...]", `
Send notifications again. Without KEY, every dead letter (of --channel, if
given) goes back to pending with a fresh maximum age. A KEY that is dead is
retried with those given up because of it; a KEY waiting for its next
attempt (pending after an error) is made due now. The running daemon
delivers them within a few seconds, in order.`)
	cfgPath := configFlag(fs)
	channel := fs.String("channel", "", "without KEY: only the dead letters of this `channel`")
	pos, err := parseAdminArgs(e, fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 && *channel != "" {
		return adminUsageError(e, fs, "give KEYs or --channel, not both")
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
	now := time.Now()
	if len(pos) == 0 {
		n, err := a.incidents.RetryDead(ctx, *channel, now)
		if err != nil {
			return err
		}
		if n == 0 {
			fmt.Fprintln(e.stdout, "no dead letters to retry")
			return nil
		}
		fmt.Fprintf(e.stdout, "%s pending again: the running daemon delivers them within a few seconds\n", pluralize(n, "notification"))
		return nil
	}
	failed := false
	for _, key := range pos {
		if err := retryNotification(ctx, a.incidents, key, now, cfg.Bot.Location()); err != nil {
			failed = true
			fmt.Fprintf(e.stderr, "oclcbot outbox retry: %v\n", err)
			continue
		}
		fmt.Fprintf(e.stdout, "%s pending, due now\n", key)
	}
	if failed {
		return errSilentFailure
	}
	return nil
}

// retryNotification makes key due now: a dead letter with a fresh maximum
// age, or a pending one waiting out its backoff.
func retryNotification(ctx context.Context, st *isqlite.Store, key string, now time.Time, loc *time.Location) error {
	n, err := st.Notification(ctx, key)
	if errors.Is(err, incidents.ErrNotFound) {
		return fmt.Errorf("no notification %s in the outbox", key)
	}
	if err != nil {
		return err
	}
	switch n.State {
	case incidents.DeliveryDead:
		return st.Retry(ctx, key, now)
	case incidents.DeliveryPending:
		if !n.NextAt.After(now) {
			return nil // due already
		}
		// Attempts and the error stay: they are the notification's history.
		return st.MarkRetry(ctx, key, now, n.Attempts, n.LastError)
	case incidents.DeliverySending:
		return fmt.Errorf("%s is being handed to its channel now", key)
	default:
		return fmt.Errorf("%s was sent at %s: nothing to retry", key, adminTime(n.Sent, loc))
	}
}

// notificationJSON is the stable JSON form of an outbox row (the body and
// payload are left out: outbox show has the text).
type notificationJSON struct {
	Key        string `json:"key"`
	Channel    string `json:"channel"`
	Kind       string `json:"kind"`
	Incident   string `json:"incident,omitempty"`
	State      string `json:"state"`
	Attempts   int    `json:"attempts"`
	Created    string `json:"created"`
	NextAt     string `json:"next_at,omitempty"`
	Sent       string `json:"sent,omitempty"`
	LastError  string `json:"last_error,omitempty"`
	Subject    string `json:"subject,omitempty"`
	SkippedFor string `json:"skipped_for,omitempty"`
}

func newNotificationJSON(n *incidents.Notification, loc *time.Location) notificationJSON {
	j := notificationJSON{
		Key: n.Key, Channel: n.Channel, Kind: string(n.Kind), Incident: n.Incident, State: string(n.State),
		Attempts: n.Attempts, Created: jsonTime(n.Created, loc), Sent: jsonTime(n.Sent, loc),
		LastError: n.LastError, Subject: n.Subject, SkippedFor: n.SkippedFor,
	}
	if n.State == incidents.DeliveryPending || n.State == incidents.DeliverySending {
		j.NextAt = jsonTime(n.NextAt, loc)
	}
	return j
}
