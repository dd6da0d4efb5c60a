package exportlog

import (
	"bytes"
	"sync/atomic"
	"time"

	"github.com/oclcbot/oclcbot/db"
)

// windowSize is how many of the attempts most recently appended through a
// Log the Log keeps in memory, so that its Subscriptions deliver them
// without reading them back from the database. At 3,000 exports a second
// that is the last third of a second: enough for a subscriber that keeps
// up, whose reads then cost no query at all. A subscriber further behind,
// and every attempt appended by another process, is read from the
// database. It is a power of two: an attempt's place is its ID modulo the
// size.
const windowSize = 1024

// windowBytes bounds the Record and Request bytes the window holds. An
// attempt whose bytes would not fit is kept without them, and a
// Subscription that must deliver them reads that attempt from the
// database. A thousand ordinary exports (a record of one or two KB, held
// once: the Record is a part of the Request) take two or three MB; the
// bound is for requests of many or large records (up to 10 MB each).
const windowBytes = 16 << 20

// window holds copies of the last windowSize attempts appended through a
// Log, each as a read from the database would return it. The attempts of
// a transaction are put there once it has committed (publish.go); a
// Subscription takes the attempt its cursor needs next when it is there,
// and otherwise reads the database. The window only ever saves a read:
// whatever it does not hold, or may hold wrongly (an attempt pruned
// since), is read from the database, which stays the only source of
// truth.
//
// It takes no lock: each place is an atomic pointer to an entry that is
// never modified once stored, so readers copy from it while writers
// replace it.
type window struct {
	slots [windowSize]atomic.Pointer[entry]
	bytes atomic.Int64 // Record and Request bytes held in slots, and by entries prepared for Appends under way
	// prunedNS is the highest cutoff a Prune has used (Unix ns): an entry
	// whose Time is before it may have been deleted from the database, and
	// is not delivered from here.
	prunedNS atomic.Int64
}

// entry is one attempt in the window.
type entry struct {
	a        Attempt // as read back whole, without Record and Request unless blobs
	recordAt int     // where Record lies in Request, -1 when it is not a part of it
	blobs    bool    // a holds Record and Request
	size     int64   // the bytes of Record and Request held, counted in window.bytes
	timeNS   int64   // a.Time as stored
}

// prepare returns the window's copy of a, which Append is about to
// record (its ID is set once inserted), with a zero Time replaced by now.
// It finds where a's Record lies in its Request, as the database stores
// it. The copy shares nothing with a. It holds a's Record and Request if
// they fit in windowBytes, which counts them from now on: the entry must
// then be stored by put or given up by discard.
func (w *window) prepare(a *Attempt, now time.Time) *entry {
	e := &entry{a: *a, recordAt: -1}
	if len(a.Record) > 0 && len(a.Request) > 0 {
		e.recordAt = bytes.Index(a.Request, a.Record)
	}
	t := a.Time
	if t.IsZero() {
		t = now
	}
	e.timeNS = db.TimeNS(t)
	e.a.Time, e.a.Done = db.NSTime(e.timeNS), db.NSTime(db.TimeNS(a.Done))
	e.a.Record, e.a.Request = nil, nil
	size := blobSize(a.Record, a.Request, e.recordAt)
	if size == 0 || w.bytes.Add(size) <= windowBytes {
		e.blobs, e.size = true, size
		setBlobs(&e.a, a.Record, a.Request, e.recordAt)
	} else {
		w.bytes.Add(-size) // no room: kept without them
	}
	return e
}

// put stores e, whose attempt has committed, in the place of its ID.
func (w *window) put(e *entry) {
	if old := w.slots[e.a.ID&(windowSize-1)].Swap(e); old != nil {
		w.bytes.Add(-old.size)
	}
}

// discard gives up entries prepared for attempts that were not recorded.
func (w *window) discard(es []*entry) {
	for _, e := range es {
		w.bytes.Add(-e.size)
	}
}

// lookup returns the entry of attempt id when the window can deliver it
// with the blobs b selects, or nil.
func (w *window) lookup(id int64, b Blobs) *entry {
	e := w.slots[id&(windowSize-1)].Load()
	if e == nil || e.a.ID != id || e.timeNS < w.prunedNS.Load() {
		return nil
	}
	if !e.blobs && e.wantsBlobs(b) {
		return nil
	}
	return e
}

// get returns a copy of attempt id, with the blobs b selects, when the
// window can deliver it, or nil. The copy is the caller's: it shares
// nothing with the window or with another copy.
func (w *window) get(id int64, b Blobs) *Attempt {
	e := w.lookup(id, b)
	if e == nil {
		return nil
	}
	a := e.a
	a.Record, a.Request = nil, nil
	if e.wantsBlobs(b) {
		setBlobs(&a, e.a.Record, e.a.Request, e.recordAt)
	}
	return &a
}

// gap returns how many IDs after cursor, at most limit, precede the
// first attempt the window can deliver with the blobs b selects: the
// attempts a Subscription at cursor must read from the database before it
// can go on from the window.
func (w *window) gap(cursor int64, limit int, b Blobs) int {
	for n := 1; n < limit; n++ {
		if w.lookup(cursor+int64(n)+1, b) != nil {
			return n
		}
	}
	return limit
}

// pruning tells the window that attempts whose Time is before cutoffNS
// are about to be deleted.
func (w *window) pruning(cutoffNS int64) {
	for {
		cur := w.prunedNS.Load()
		if cur >= cutoffNS || w.prunedNS.CompareAndSwap(cur, cutoffNS) {
			return
		}
	}
}

// wantsBlobs reports whether b delivers e's attempt with its Record and
// Request: the condition of failedColumns (blobCond) for BlobsFailed, and
// any other value than BlobsFailed or BlobsNone is BlobsAll, as in after.
func (e *entry) wantsBlobs(b Blobs) bool {
	switch b {
	case BlobsNone:
		return false
	case BlobsFailed:
		return e.a.Class != ClassNone || e.a.Outcome == OutcomeQueued
	}
	return true
}

// blobSize is the number of bytes setBlobs copies.
func blobSize(record, request []byte, recordAt int) int64 {
	n := len(request)
	if recordAt < 0 {
		n += len(record)
	}
	return int64(n)
}

// setBlobs sets dst's Record and Request to copies of record and request,
// in one allocation, as scan returns them from the database: Record a
// part of Request when recordAt >= 0, and empty ones nil.
func setBlobs(dst *Attempt, record, request []byte, recordAt int) {
	dst.Record, dst.Request = nil, nil
	n := blobSize(record, request, recordAt)
	if n == 0 {
		return
	}
	buf := make([]byte, n)
	if len(request) > 0 {
		dst.Request = buf[:len(request):len(request)]
		copy(dst.Request, request)
		buf = buf[len(request):]
	}
	switch {
	case recordAt >= 0:
		end := recordAt + len(record)
		dst.Record = dst.Request[recordAt:end:end]
	case len(record) > 0:
		dst.Record = buf[:len(record):len(record)]
		copy(dst.Record, record)
	}
}
