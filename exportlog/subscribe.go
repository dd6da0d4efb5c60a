package exportlog

import (
	"context"
	"time"
)

// subscriptionBatch is how many attempts a Subscription reads from the
// database at a time.
const subscriptionBatch = 256

// Subscription delivers every attempt recorded after a starting ID, in ID
// order (which is commit order), each exactly once. It reads from the
// database by ID cursor, so it never loses an attempt however slowly it is
// read, and a slow reader never holds up Append: writers only close a
// channel to wake it. Attempts pruned before the reader reached them are
// skipped.
//
// A Subscription is used by one goroutine at a time; it holds no
// resources and needs no closing.
type Subscription struct {
	l      *Log
	cursor int64
	buf    []*Attempt
}

// Subscribe returns a Subscription that delivers the attempts whose ID is
// greater than afterID: 0 for the whole log, LastID for only new ones, or
// the ID of the last attempt a previous run handled.
func (l *Log) Subscribe(afterID int64) *Subscription {
	return &Subscription{l: l, cursor: afterID}
}

// Cursor returns the ID of the last attempt Next returned (or the
// starting ID): a consumer that stores it can resume with Subscribe after
// a restart without missing or repeating an attempt.
func (s *Subscription) Cursor() int64 { return s.cursor }

// Next returns the next attempt, waiting for one to be recorded if
// needed. It returns ctx's error when ctx ends first, ErrClosed after the
// Log is closed, or a database error (after which Next may be called
// again: the cursor has not moved).
func (s *Subscription) Next(ctx context.Context) (*Attempt, error) {
	for {
		if len(s.buf) > 0 {
			a := s.buf[0]
			s.buf[0] = nil
			s.buf = s.buf[1:]
			s.cursor = a.ID
			return a, nil
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if s.l.isClosed() {
			return nil, ErrClosed
		}
		// Take the wake channel before reading, so that a commit that
		// lands after the read still wakes us.
		wake := s.l.waitChan()
		as, err := s.l.after(ctx, s.cursor, subscriptionBatch)
		if err != nil {
			return nil, err
		}
		if len(as) > 0 {
			s.buf = as
			continue
		}
		t := time.NewTimer(s.l.opt.PollEvery)
		select {
		case <-wake:
		case <-t.C:
		case <-ctx.Done():
		case <-s.l.closed:
		}
		t.Stop()
	}
}
