package incidents

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrBadSchedule is returned (wrapped) by ParseSchedule.
var ErrBadSchedule = errors.New("bad schedule")

// Schedule is a weekly recurring time range in a time zone: maintenance
// windows ("Sun 02:00-04:00 America/New_York") and working hours
// ("Mon-Fri 08:00-17:00 America/New_York"). A range whose end is before
// its start runs past midnight into the next day; the days name the day it
// starts on.
type Schedule struct {
	Days  [7]bool // indexed by time.Weekday
	Start int     // minutes after local midnight, 0..1439
	End   int     // minutes after local midnight, 1..1440; End < Start runs past midnight
	Loc   *time.Location
}

var dayNames = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// ParseSchedule reads "DAYS HH:MM-HH:MM [ZONE]". DAYS is "daily", or a
// comma-separated list of days and day ranges (Mon, Mon-Fri, Sat,Sun; the
// first three letters of English day names, any case). ZONE is an IANA
// name ("America/New_York"), "UTC" or "Local"; loc is used when it is
// missing (UTC when loc is nil). "24:00" may end a range.
func ParseSchedule(spec string, loc *time.Location) (Schedule, error) {
	bad := func(why string) (Schedule, error) {
		return Schedule{}, fmt.Errorf("schedule %q: %w: %s (want e.g. \"Mon-Fri 08:00-17:00 America/New_York\")", clip(spec, 80), ErrBadSchedule, why)
	}
	f := strings.Fields(spec)
	if len(f) < 2 || len(f) > 3 {
		return bad("want days, a time range and an optional time zone")
	}
	var s Schedule
	if err := parseDays(f[0], &s.Days); err != nil {
		return bad(err.Error())
	}
	from, to, ok := strings.Cut(f[1], "-")
	if !ok {
		return bad("time range must be HH:MM-HH:MM")
	}
	var err error
	if s.Start, err = parseClock(from, false); err != nil {
		return bad(err.Error())
	}
	if s.End, err = parseClock(to, true); err != nil {
		return bad(err.Error())
	}
	if s.Start == s.End {
		return bad("the range is empty")
	}
	s.Loc = loc
	if s.Loc == nil {
		s.Loc = time.UTC
	}
	if len(f) == 3 {
		if s.Loc, err = time.LoadLocation(f[2]); err != nil || f[2] == "" {
			return bad(fmt.Sprintf("unknown time zone %q", clip(f[2], 40)))
		}
	}
	return s, nil
}

func parseDays(s string, days *[7]bool) error {
	if strings.EqualFold(s, "daily") || s == "*" {
		for i := range days {
			days[i] = true
		}
		return nil
	}
	for part := range strings.SplitSeq(s, ",") {
		a, b, isRange := strings.Cut(part, "-")
		da, err := parseDay(a)
		if err != nil {
			return err
		}
		db := da
		if isRange {
			if db, err = parseDay(b); err != nil {
				return err
			}
		}
		for d := da; ; d = (d + 1) % 7 {
			days[d] = true
			if d == db {
				break
			}
		}
	}
	return nil
}

func parseDay(s string) (int, error) {
	l := strings.ToLower(s)
	for i, n := range dayNames {
		if l == n || l == strings.ToLower(time.Weekday(i).String()) {
			return i, nil
		}
	}
	return 0, fmt.Errorf("unknown day %q", clip(s, 20))
}

func parseClock(s string, end bool) (int, error) {
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(h) < 1 || len(h) > 2 || len(m) != 2 || !allDigits(h) || !allDigits(m) {
		return 0, fmt.Errorf("time %q is not HH:MM", clip(s, 20))
	}
	hh, _ := strconv.Atoi(h)
	mm, _ := strconv.Atoi(m)
	if end && hh == 24 && mm == 0 {
		return 24 * 60, nil
	}
	if hh > 23 || mm > 59 {
		return 0, fmt.Errorf("time %q is out of range", s)
	}
	return hh*60 + mm, nil
}

// String writes the schedule in the form ParseSchedule reads.
func (s Schedule) String() string {
	var days []string
	all := true
	for d, on := range s.Days {
		if on {
			days = append(days, strings.ToUpper(dayNames[d][:1])+dayNames[d][1:])
		} else {
			all = false
		}
	}
	ds := strings.Join(days, ",")
	if all {
		ds = "daily"
	}
	if ds == "" {
		ds = "never"
	}
	loc := "UTC"
	if s.Loc != nil {
		loc = s.Loc.String()
	}
	return fmt.Sprintf("%s %02d:%02d-%02d:%02d %s", ds, s.Start/60, s.Start%60, s.End/60, s.End%60, loc)
}

// Active reports whether t falls inside the schedule.
func (s Schedule) Active(t time.Time) bool {
	loc := s.Loc
	if loc == nil {
		loc = time.UTC
	}
	l := t.In(loc)
	m := l.Hour()*60 + l.Minute()
	wd := int(l.Weekday())
	if s.Start < s.End {
		return s.Days[wd] && m >= s.Start && m < s.End
	}
	return (s.Days[wd] && m >= s.Start) || (s.Days[(wd+6)%7] && m < s.End)
}

// Next returns the earliest instant at or after t inside the schedule, and
// false when the schedule names no day.
func (s Schedule) Next(t time.Time) (time.Time, bool) {
	if s.Active(t) {
		return t, true
	}
	loc := s.Loc
	if loc == nil {
		loc = time.UTC
	}
	l := t.In(loc)
	for d := 0; d <= 8; d++ {
		day := time.Date(l.Year(), l.Month(), l.Day()+d, 0, 0, 0, 0, loc)
		c := time.Date(day.Year(), day.Month(), day.Day(), s.Start/60, s.Start%60, 0, 0, loc)
		if !c.Before(t) && s.Days[c.Weekday()] && s.Active(c) {
			return c, true
		}
	}
	return time.Time{}, false
}
