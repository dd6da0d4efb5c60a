package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/oclcbot/oclcbot/bot"
	"github.com/oclcbot/oclcbot/incidents"
	isqlite "github.com/oclcbot/oclcbot/incidents/sqlite"
)

func runIncidents(ctx context.Context, e *env, args []string) error {
	return runAdminSubs(ctx, e, "incidents", `
Incidents: problems with the export path, from the first failure to their
solution. Ids are said on the phone and typed in any case (ois-2026-42).
What ack, solve and unsilence announce is queued in the outbox and sent by
the running daemon (oclcbot serve). Who did it is recorded: --by, default
your login at this host.`,
		[]adminSub{
			{"list", "list incidents, newest first", incidentsList},
			{"show", "show an incident: timeline, messages, affected records", incidentsShow},
			{"ack", "acknowledge: someone is on it (stops reminders, escalation)", incidentsAck},
			{"solve", "mark an incident solved by hand", incidentsSolve},
			{"note", "add a note to an incident's timeline", incidentsNote},
			{"silence", "hold back announcements about a target for a while", incidentsSilence},
			{"unsilence", "lift the silences on a target", incidentsUnsilence},
			{"silences", "list running silences and maintenance windows", incidentsSilences},
			{"window", "add or delete a recurring maintenance window", incidentsWindow},
		}, args)
}

var incidentStates = []incidents.State{incidents.StateOpen, incidents.StateAcknowledged, incidents.StateSolved}

func incidentsList(ctx context.Context, e *env, args []string) error {
	c := newAdminCmd(e, "incidents list", "[flags]", "List incidents, newest first. Times are local (bot.time_zone).")
	active := c.fs.Bool("active", false, "only open and acknowledged incidents")
	state := c.fs.String("state", "", "only incidents in these `states` (comma-separated): open, acknowledged, solved")
	target := c.fs.String("target", "", "only incidents about this `target` (listener, catalog, index, upstream:HOST:PORT)")
	since := c.fs.String("since", "", "only incidents opened at or after `WHEN` (a duration ago: 7d, or a time: 2026-03-01)")
	limit := c.limitFlag(50, "show at most `N` incidents")
	asJSON := c.jsonFlag()
	if err := c.parse(args, noArgs); err != nil {
		return err
	}
	f := isqlite.Filter{Target: *target, Limit: *limit}
	if *active {
		f.States = []incidents.State{incidents.StateOpen, incidents.StateAcknowledged}
	}
	states, err := parseStates(c, *state, incidentStates)
	if err != nil {
		return err
	}
	f.States = append(f.States, states...)
	if err := c.load(); err != nil {
		return err
	}
	now := time.Now()
	if f.Since, err = c.pastTime("--since", *since, now); err != nil {
		return err
	}
	a, err := c.open(ctx, true)
	if err != nil {
		return err
	}
	defer a.Close()
	list, err := a.incidents.List(ctx, f)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(e.stdout, jsonForms(list, func(inc *incidents.Incident) *incidents.Summary {
			return incidents.Summarize(inc, now, !c.cfg.Bot.NoTag)
		}))
	}
	if len(list) == 0 {
		switch {
		case f.Target == "" && f.Since.IsZero() && len(f.States) == 0:
			fmt.Fprintln(e.stdout, "no incidents")
		case *active:
			fmt.Fprintln(e.stdout, "no open incidents")
		default:
			fmt.Fprintln(e.stdout, "no incidents match")
		}
		return nil
	}
	return incidents.WriteList(e.stdout, list, now, c.loc)
}

func incidentsShow(ctx context.Context, e *env, args []string) error {
	c := newAdminCmd(e, "incidents show", "[flags] ID", `
Show everything about an incident: its state, the timeline (who did what
when), the messages captured verbatim (replies catalogers saw, upstream
replies, probe errors, staff mails) and the export attempts it affected,
each with what became of it.`)
	printouts := c.fs.Bool("printouts", false, "print each affected record in MARC mnemonic form")
	asJSON := c.fs.Bool("json", false, "print the OIS report as JSON (records with their raw bytes)")
	id, err := incidentArg(c, args)
	if err != nil {
		return err
	}
	a, err := c.open(ctx, true)
	if err != nil {
		return err
	}
	defer a.Close()
	inc, err := a.incidents.Incident(ctx, id)
	if err != nil {
		return incidentError(ctx, a, id, err)
	}
	now := time.Now()
	if *asJSON {
		return writeJSON(e.stdout, incidents.NewReport(inc, a.facts(), now, !c.cfg.Bot.NoTag))
	}
	return incidents.WriteIncident(e.stdout, inc, now, c.loc, *printouts)
}

// incidentArg parses args, whose first positional argument is an incident
// id, loads the configuration (for the id's prefix in the usage error) and
// returns the id in canonical form.
func incidentArg(c *adminCmd, args []string) (string, error) {
	if err := c.parse(args, someArgs("give an incident id")); err != nil {
		return "", err
	}
	if err := c.load(); err != nil {
		return "", err
	}
	id, err := incidents.CanonicalID(c.pos[0])
	if err != nil {
		return "", c.usageError("%q is not an incident id (they look like %s)",
			c.pos[0], incidents.FormatID(c.cfg.Bot.IncidentPrefix, time.Now().In(c.loc).Year(), 42))
	}
	return id, nil
}

// incidentError explains why an action on incident id failed.
func incidentError(ctx context.Context, a *app, id string, err error) error {
	switch {
	case errors.Is(err, incidents.ErrNotFound):
		return fmt.Errorf("no incident %s", id)
	case errors.Is(err, incidents.ErrAlreadyAcknowledged):
		if inc, gerr := a.incidents.Incident(ctx, id); gerr == nil {
			return fmt.Errorf("%s is already acknowledged, by %s at %s", id, inc.AckedBy, adminTime(inc.AckedAt, a.cfg.Bot.Location()))
		}
	case errors.Is(err, incidents.ErrAlreadySolved):
		if inc, gerr := a.incidents.Incident(ctx, id); gerr == nil {
			return fmt.Errorf("%s is already solved, by %s at %s", id, inc.SolvedBy, adminTime(inc.SolvedAt, a.cfg.Bot.Location()))
		}
	case errors.Is(err, incidents.ErrConflict):
		return fmt.Errorf("%s kept changing while this command ran (the daemon is busy with it): run the command again", id)
	}
	return err
}

// incidentAction is the shared body of ack, solve and note.
func incidentAction(ctx context.Context, e *env, name, synopsis, about string, args []string,
	act func(ctx context.Context, eng *bot.Engine, id, actor string, rest []string) error,
	done func(inc *incidents.Incident, loc *time.Location) string) error {
	c := newAdminCmd(e, "incidents "+name, synopsis, about)
	by := c.byFlag("who is doing it, recorded in the timeline")
	id, err := incidentArg(c, args)
	if err != nil {
		return err
	}
	pos := c.pos
	actor := strings.TrimSpace(*by)
	if actor == "" {
		return c.usageError("--by must name who is doing it")
	}
	if name != "note" && len(pos) > 1 {
		return c.usageError("unexpected argument %q", pos[1])
	}
	if name == "note" && strings.TrimSpace(strings.Join(pos[1:], " ")) == "" {
		return c.usageError("give the note's text")
	}
	a, eng, err := c.openEngine(ctx, true)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := act(ctx, eng, id, actor, pos[1:]); err != nil {
		return incidentError(ctx, a, id, err)
	}
	inc, err := a.incidents.Incident(ctx, id)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, done(inc, c.loc))
	return nil
}

func incidentsAck(ctx context.Context, e *env, args []string) error {
	return incidentAction(ctx, e, "ack", "[flags] ID", `
Acknowledge incident ID: you are working on it. Reminders and escalation
stop, and the channels that want acknowledgements are told.`, args,
		func(ctx context.Context, eng *bot.Engine, id, actor string, _ []string) error {
			return eng.Ack(ctx, id, actor)
		},
		func(inc *incidents.Incident, loc *time.Location) string {
			return fmt.Sprintf("%s acknowledged by %s at %s: reminders and escalation stop", inc.ID, inc.AckedBy, adminTime(inc.AckedAt, loc))
		})
}

func incidentsSolve(ctx context.Context, e *env, args []string) error {
	return incidentAction(ctx, e, "solve", "[flags] ID", `
Mark incident ID solved. SOLVED goes to every channel that was told about
it, listing what became of each affected record. If the failures go on, the
incident reopens and alerts again.`, args,
		func(ctx context.Context, eng *bot.Engine, id, actor string, _ []string) error {
			return eng.Solve(ctx, id, actor)
		},
		func(inc *incidents.Incident, loc *time.Location) string {
			c := inc.CountRecords()
			s := fmt.Sprintf("%s solved by %s at %s; SOLVED is queued for the channels that were told", inc.ID, inc.SolvedBy, adminTime(inc.SolvedAt, loc))
			if c.Reexport > 0 {
				s += fmt.Sprintf("\n%s must be exported again (oclcbot incidents show %s)", pluralize(c.Reexport, "record"), inc.ID)
			}
			return s
		})
}

func incidentsNote(ctx context.Context, e *env, args []string) error {
	return incidentAction(ctx, e, "note", "[flags] ID TEXT...", `
Add a note to incident ID's timeline (what was tried, who was called).
Notes notify nobody; they show in oclcbot incidents show and the OIS report.`, args,
		func(ctx context.Context, eng *bot.Engine, id, actor string, rest []string) error {
			return eng.Note(ctx, id, actor, strings.Join(rest, " "))
		},
		func(inc *incidents.Incident, _ *time.Location) string {
			return fmt.Sprintf("note added to %s", inc.ID)
		})
}

// knownTarget reports whether target names a target oclcbot has, or is a
// pattern (which may match any).
func knownTarget(target string) bool {
	switch target {
	case incidents.TargetListener, incidents.TargetCatalog, incidents.TargetIndex, incidents.TargetUnknown:
		return true
	}
	return strings.HasPrefix(target, "upstream:") || strings.ContainsAny(target, "*?[")
}

func incidentsSilence(ctx context.Context, e *env, args []string) error {
	c := newAdminCmd(e, "incidents silence", "[flags] TARGET DURATION --reason TEXT", `
Hold back announcements about TARGET for DURATION (90m, 4h, 2d) or until a
time ("2026-03-01 18:00"). Failures are still detected and recorded; when
the silence ends, only what changed is announced. TARGET is listener,
catalog, index, upstream:HOST:PORT, a pattern such as upstream:*, or * for
everything.`)
	reason := c.fs.String("reason", "", "why (required), e.g. \"ILS upgrade, ticket 4711\"")
	by := c.byFlag("who sets the silence")
	if err := c.parse(args, exactArgs(2, "give a TARGET and a DURATION")); err != nil {
		return err
	}
	if strings.TrimSpace(*reason) == "" {
		return c.usageError("--reason is required, so that others know why nothing is announced")
	}
	if err := c.load(); err != nil {
		return err
	}
	until, err := parseWhen(c.pos[1], time.Now(), c.loc, +1)
	if err != nil {
		return c.usageError("%v", err)
	}
	target := c.pos[0]
	a, eng, err := c.openEngine(ctx, false)
	if err != nil {
		return err
	}
	defer a.Close()
	s, err := eng.Silence(ctx, target, until, *reason, strings.TrimSpace(*by))
	if err != nil {
		return err
	}
	if !knownTarget(target) {
		fmt.Fprintf(e.stderr, "oclcbot incidents silence: note: %q is not a target oclcbot checks (listener, catalog, index, upstream:HOST:PORT); the silence holds for it anyway\n", target)
	}
	fmt.Fprintf(e.stdout, "silenced %s until %s (silence %d, by %s); lift it early with `oclcbot incidents unsilence %s`\n",
		s.Target, adminTime(s.Until, c.loc), s.ID, s.Actor, s.Target)
	return nil
}

func incidentsUnsilence(ctx context.Context, e *env, args []string) error {
	c := newAdminCmd(e, "incidents unsilence", "[flags] TARGET", `
Lift the running silences on exactly TARGET (as given to silence) and
announce at once what changed while they held.`)
	by := c.byFlag("who lifts the silences")
	if err := c.parse(args, exactArgs(1, "give one TARGET")); err != nil {
		return err
	}
	a, eng, err := c.openEngine(ctx, true)
	if err != nil {
		return err
	}
	defer a.Close()
	target := c.pos[0]
	n, err := eng.Unsilence(ctx, target, strings.TrimSpace(*by))
	if n == 0 && err == nil {
		return fmt.Errorf("no running silence on exactly %q (see oclcbot incidents silences)", target)
	}
	if n > 0 {
		fmt.Fprintf(e.stdout, "lifted %s on %s\n", pluralize(n, "silence"), target)
	}
	return err
}

func incidentsSilences(ctx context.Context, e *env, args []string) error {
	c := newAdminCmd(e, "incidents silences", "[flags]", "List the running silences and the maintenance windows.")
	a, err := c.start(ctx, args, noArgs)
	if err != nil {
		return err
	}
	defer a.Close()
	ss, err := a.incidents.ActiveSilences(ctx, time.Now())
	if err != nil {
		return err
	}
	ws, err := a.incidents.Windows(ctx)
	if err != nil {
		return err
	}
	if len(ss) == 0 && len(ws) == 0 {
		fmt.Fprintln(e.stdout, "no silences or maintenance windows: everything is announced")
		return nil
	}
	return incidents.WriteSilences(e.stdout, ss, ws, c.loc)
}

func incidentsWindow(ctx context.Context, e *env, args []string) error {
	c := newAdminCmd(e, "incidents window", "add [flags] TARGET SCHEDULE --reason TEXT | delete [flags] ID", `
Maintenance windows hold back announcements about TARGET every time their
schedule comes round (failures are still recorded). SCHEDULE is
"DAYS HH:MM-HH:MM [ZONE]": "Sun 02:00-04:00", "Mon-Fri 22:00-23:30
America/New_York", "daily 03:00-03:15"; the zone defaults to bot.time_zone.
List them with oclcbot incidents silences.`)
	reason := c.fs.String("reason", "", "why (required for add)")
	by := c.byFlag("who adds the window")
	if err := c.parse(args, anyArgs); err != nil {
		return err
	}
	pos := c.pos
	if len(pos) == 0 || (pos[0] != "add" && pos[0] != "delete") {
		return c.usageError("say add or delete")
	}
	if err := c.load(); err != nil {
		return err
	}
	if pos[0] == "delete" {
		return deleteWindow(ctx, c)
	}
	if len(pos) < 3 {
		return c.usageError("give a TARGET and a SCHEDULE")
	}
	if strings.TrimSpace(*reason) == "" {
		return c.usageError("--reason is required")
	}
	if strings.TrimSpace(*by) == "" {
		return c.usageError("--by must name who adds the window")
	}
	sched, err := incidents.ParseSchedule(strings.Join(pos[2:], " "), c.loc)
	if err != nil {
		return c.usageError("%v", err)
	}
	a, eng, err := c.openEngine(ctx, false)
	if err != nil {
		return err
	}
	defer a.Close()
	w, err := eng.AddWindow(ctx, pos[1], sched, *reason, strings.TrimSpace(*by))
	if err != nil {
		return err
	}
	if !knownTarget(w.Target) {
		fmt.Fprintf(e.stderr, "oclcbot incidents window: note: %q is not a target oclcbot checks; the window holds for it anyway\n", w.Target)
	}
	fmt.Fprintf(e.stdout, "maintenance window %d: %s, %s (by %s)\n", w.ID, w.Target, w.Schedule, w.Actor)
	return nil
}

// deleteWindow is incidents window delete ID.
func deleteWindow(ctx context.Context, c *adminCmd) error {
	if len(c.pos) != 2 {
		return c.usageError("give the ID of the window to delete")
	}
	id, err := strconv.ParseInt(c.pos[1], 10, 64)
	if err != nil || id <= 0 {
		return c.usageError("%q is not a window ID (see oclcbot incidents silences)", c.pos[1])
	}
	a, eng, err := c.openEngine(ctx, true)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := eng.DeleteWindow(ctx, id); err != nil {
		if errors.Is(err, incidents.ErrNotFound) {
			return fmt.Errorf("no maintenance window %d", id)
		}
		return err
	}
	fmt.Fprintf(c.e.stdout, "deleted maintenance window %d\n", id)
	return nil
}
