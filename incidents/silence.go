package incidents

import (
	"path"
	"time"
)

// Silence holds back announcements about matching targets until a time.
// Everything is still recorded; when the silence ends the bot announces
// only what changed relative to what each channel was last told.
type Silence struct {
	ID      int64
	Target  string    // a target, "*" for all, or a path.Match pattern ("upstream:*")
	Until   time.Time // the silence ends then
	Reason  string
	Actor   string    // who set it
	Created time.Time // when it was set
	Ended   time.Time // when it was lifted early (zero: it runs until Until)
}

// Matches reports whether the silence covers target.
func (s *Silence) Matches(target string) bool {
	if s.Target == "*" || s.Target == target {
		return true
	}
	ok, err := path.Match(s.Target, target)
	return err == nil && ok
}

// Active reports whether the silence holds back announcements at t.
func (s *Silence) Active(t time.Time) bool {
	return s.Ended.IsZero() && t.Before(s.Until) && !t.Before(s.Created)
}

// ValidPattern reports whether a silence or window target pattern is well
// formed (a bad pattern would match nothing, silently).
func ValidPattern(p string) bool {
	if p == "" {
		return false
	}
	_, err := path.Match(p, "")
	return err == nil
}

// Window is a recurring maintenance window: announcements about matching
// targets are held back while its schedule is active.
type Window struct {
	ID       int64
	Target   string   // as Silence.Target
	Schedule Schedule // when it is active
	Reason   string
	Actor    string
	Created  time.Time
}

// Matches reports whether the window covers target.
func (w *Window) Matches(target string) bool {
	s := Silence{Target: w.Target}
	return s.Matches(target)
}
