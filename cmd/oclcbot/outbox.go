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
	c := newAdminCmd(e, "outbox "+name, "[flags]", about)
	var state *string
	if states == nil {
		state = c.fs.String("state", "", "only notifications in these `states` (comma-separated): pending, sending, sent, dead")
	}
	channel := c.fs.String("channel", "", "only this `channel` (log, listserv, slack, ois, ...)")
	incident := c.fs.String("incident", "", "only notifications about incident `ID`")
	limit := c.limitFlag(50, "show at most `N` notifications")
	asJSON := c.jsonFlag()
	if err := c.parse(args, noArgs); err != nil {
		return err
	}
	f := isqlite.OutboxFilter{States: states, Channel: *channel, Limit: *limit}
	if state != nil {
		picked, err := parseStates(c, *state, deliveryStates)
		if err != nil {
			return err
		}
		f.States = append(f.States, picked...)
	}
	if *incident != "" {
		id, err := incidents.CanonicalID(*incident)
		if err != nil {
			return c.usageError("--incident %q is not an incident id", *incident)
		}
		f.Incident = id
	}
	a, err := c.open(ctx, true)
	if err != nil {
		return err
	}
	defer a.Close()
	ns, err := a.incidents.Outbox(ctx, f)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(e.stdout, jsonForms(ns, func(n incidents.Notification) notificationJSON { return newNotificationJSON(&n, c.loc) }))
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
	if err := incidents.WriteOutbox(e.stdout, ns, c.loc); err != nil {
		return err
	}
	if states != nil {
		fmt.Fprintln(e.stdout, "\nFix the channel, then send them again: oclcbot outbox retry [KEY...]")
	}
	return nil
}

func outboxShow(ctx context.Context, e *env, args []string) error {
	c := newAdminCmd(e, "outbox show", "[flags] KEY", "Show notification KEY (from oclcbot outbox list): its delivery and its text as rendered.")
	a, err := c.start(ctx, args, exactArgs(1, "give one notification KEY"))
	if err != nil {
		return err
	}
	defer a.Close()
	n, err := a.incidents.Notification(ctx, c.pos[0])
	if errors.Is(err, incidents.ErrNotFound) {
		return fmt.Errorf("no notification %s in the outbox", c.pos[0])
	}
	if err != nil {
		return err
	}
	loc := c.loc
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
	c := newAdminCmd(e, "outbox retry", "[flags] [KEY...]", `
Send notifications again. Without KEY, every dead letter (of --channel, if
given) goes back to pending with a fresh maximum age. A KEY that is dead is
retried with those given up because of it; a KEY waiting for its next
attempt (pending after an error) is made due now. The running daemon
delivers them within a few seconds, in order.`)
	channel := c.fs.String("channel", "", "without KEY: only the dead letters of this `channel`")
	if err := c.parse(args, anyArgs); err != nil {
		return err
	}
	if len(c.pos) > 0 && *channel != "" {
		return c.usageError("give KEYs or --channel, not both")
	}
	a, err := c.open(ctx, true)
	if err != nil {
		return err
	}
	defer a.Close()
	now := time.Now()
	if len(c.pos) == 0 {
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
	return forEachArg(c, c.pos, func(key string) error {
		if err := retryNotification(ctx, a.incidents, key, now, c.loc); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s pending, due now\n", key)
		return nil
	})
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
