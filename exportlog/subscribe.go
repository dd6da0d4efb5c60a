package exportlog

import (
	"context"
	"time"
)

// subscriptionBatch is how many attempts a Subscription reads from the
// database at a time.
const subscriptionBatch = 256

// Subscription delivers every attempt recorded after a starting ID, in ID
// order (which is commit order), each exactly once. It follows the log by
// ID cursor, so it never loses an attempt however slowly it is read, and a
// slow reader never holds up Append: writers only close a channel to wake
// it. Attempts pruned before the reader reached them are skipped.
//
// The attempt after the cursor comes from the Log's memory when it is one
// of the last 1,024 attempts appended through this Log (windowSize), and
// otherwise from the database: an attempt appended by another process,
// or one the subscriber is too far behind to find in memory, is read
// back, in batches. Either way every delivered *Attempt, its Record and
// Request included, is the caller's own: it shares nothing with the
// attempt given to Append or with what other Subscriptions deliver.
//
// A Subscription is used by one goroutine at a time; it holds no
// resources and needs no closing.
type Subscription struct {
	l      *Log
	cursor int64
	blobs  Blobs
	buf    []*Attempt
	// caughtUp is set when the last read found every attempt there
	// was: until the Log appends one past the cursor (or the poll
	// interval passes) there is nothing to read.
	caughtUp bool
	reads    int // database reads so far (tests and benchmarks)
}

// Blobs says which attempts a Subscription delivers with their Record and
// Request (the raw bytes, the bulk of an attempt): reading them back for
// every export costs a watcher that only judges outcomes more than the
// rest of the attempt.
type Blobs int

// Blob selections for WithBlobs.
const (
	// BlobsAll delivers every attempt whole (the default).
	BlobsAll Blobs = iota
	// BlobsFailed delivers Record and Request only in attempts that
	// failed (Class is not ClassNone) or were queued: the attempts an
	// incident lists as affected records, with their raw bytes. In the
	// others both are nil; every other field is there.
	BlobsFailed
	// BlobsNone delivers no attempt's Record or Request.
	BlobsNone
)

// SubscribeOption configures a Subscription (see Subscribe).
type SubscribeOption func(*Subscription)

// WithBlobs makes a Subscription deliver Record and Request only in the
// attempts b selects. Get returns an attempt whole, by its ID.
func WithBlobs(b Blobs) SubscribeOption {
	return func(s *Subscription) { s.blobs = b }
}

// Subscribe returns a Subscription that delivers the attempts whose ID is
// greater than afterID: 0 for the whole log, LastID for only new ones, or
// the ID of the last attempt a previous run handled. Without options it
// delivers every attempt whole.
func (l *Log) Subscribe(afterID int64, opts ...SubscribeOption) *Subscription {
	s := &Subscription{l: l, cursor: afterID}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Cursor returns the ID of the last attempt Next returned (or the
// starting ID): a consumer that stores it can resume with Subscribe after
// a restart without missing or repeating an attempt. It must store it in
// the log's database: a power loss may take the last attempts, whose IDs
// are then assigned again (see Append), and only a cursor stored there is
// lost with them.
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
		// The next attempt, from memory when the Log has it. An
		// attempt is put there before appended moves past its ID.
		if a := s.l.win.get(s.cursor+1, s.blobs); a != nil {
			s.cursor = a.ID
			return a, nil
		}
		// Take the wake channel before reading, so that a commit that
		// lands after the read still wakes us.
		wake := s.l.waitChan()
		// A wake-up is for every commit of the Log, and several usually
		// land at once: read only when an attempt appended through
		// this Log is still unread, or when the last read may have
		// left some (a full batch, or the poll for other processes'
		// appends).
		//
		// appended past the cursor while the window lacks cursor+1 is a
		// gap: an attempt of another process, one pruned, one the
		// window dropped or no longer holds, or one committed but not
		// yet published (the next transaction's Appends may return
		// first, see publish.go). The database has it (or has deleted
		// it): read up to the next attempt the window holds, rather
		// than wait.
		if !s.caughtUp || s.cursor < s.l.appended.Load() {
			limit := s.l.win.gap(s.cursor, subscriptionBatch, s.blobs)
			as, err := s.l.after(ctx, s.cursor, limit, s.blobs)
			s.reads++
			if err != nil {
				return nil, err
			}
			// A read that stopped at an attempt in the window has read
			// every attempt before it; the window goes on from there.
			s.caughtUp = len(as) < limit || limit < subscriptionBatch
			if len(as) > 0 {
				s.buf = as
				continue
			}
		}
		t := time.NewTimer(s.l.opt.PollEvery)
		select {
		case <-wake:
		case <-t.C:
			s.caughtUp = false // look for other processes' appends
		case <-ctx.Done():
		case <-s.l.closed:
		}
		t.Stop()
	}
}
