package receiver

import (
	"context"
	"errors"
	"strings"
	"sync"

	"github.com/oclcbot/oclcbot/exportlog"
	"github.com/oclcbot/oclcbot/gateway"
)

// recentCapacity is how many requests' replies are remembered for
// ExportFailed, which the gateway calls right after ServeExport returns.
const recentCapacity = 4096

// ExportFailed records a request that failed in transport or framing
// (gateway.FailureObserver) as a request-level attempt in the export log:
//
//	protocol error             rejected  transport  protocol
//	oversize, too many records rejected  record     too-large
//	incomplete request         failed    transport  incomplete
//	read timeout               failed    transport  read-timeout
//	busy                       failed    system     busy
//	handler panic              failed    system     internal
//	client gone after reply    failed    transport  client-gone
//
// For a client gone before it could read the reply, the records' own
// attempts (already recorded, their outcome stands) are referenced by
// Follows, and Reply holds the reply the cataloger never saw.
func (r *Receiver) ExportFailed(ctx context.Context, req *gateway.Request, err error) {
	received := req.Received
	if received.IsZero() {
		received = r.now()
	}
	user, _ := req.Credentials()
	a := &exportlog.Attempt{
		RequestID: req.ID, Time: received, RemoteAddr: remote(req), User: clip(user, maxLoggedUser),
		Target: TargetListener, RecordIndex: -1, Detail: err.Error(), Request: req.Raw,
	}
	a.Outcome, a.Class, a.Cause = classify(err)
	if errors.Is(err, gateway.ErrClientGone) && !errors.Is(err, gateway.ErrHandlerPanic) {
		if v, ok := r.recent.take(req); ok {
			a.Follows, a.Reply = v.attemptID(), v.reply
			if a.Follows != 0 {
				a.Detail += "; the export was handled (see the attempt this one follows) but the cataloger did not see the reply"
			} else {
				a.Detail += "; the export was handled (its attempt could not be recorded) but the cataloger did not see the reply"
			}
		}
	} else {
		a.Reply = strings.TrimSuffix(r.ErrorReply(err), "\n")
		r.recent.take(req)
	}
	a.Done = r.now()
	a.Elapsed = a.Done.Sub(received)
	if aerr := r.cfg.Log.Append(context.WithoutCancel(ctx), a); aerr != nil {
		r.log.Error("cannot record a failed export in the export log", "err", aerr, "request", req)
	}
	r.logAttempt(ctx, a)
}

// classify gives a gateway failure its outcome, class and cause.
func classify(err error) (exportlog.Outcome, exportlog.Class, string) {
	var pe *gateway.ProtocolError
	switch {
	case errors.Is(err, gateway.ErrHandlerPanic):
		return exportlog.OutcomeFailed, exportlog.ClassSystem, exportlog.CauseInternal
	case errors.Is(err, gateway.ErrClientGone):
		return exportlog.OutcomeFailed, exportlog.ClassTransport, exportlog.CauseClientGone
	case errors.As(err, &pe):
		return exportlog.OutcomeRejected, exportlog.ClassTransport, exportlog.CauseProtocol
	case errors.Is(err, gateway.ErrTooLarge), errors.Is(err, gateway.ErrTooManyRecords):
		return exportlog.OutcomeRejected, exportlog.ClassRecord, exportlog.CauseTooLarge
	case errors.Is(err, gateway.ErrBusy):
		return exportlog.OutcomeFailed, exportlog.ClassSystem, exportlog.CauseBusy
	case errors.Is(err, gateway.ErrReadTimeout):
		return exportlog.OutcomeFailed, exportlog.ClassTransport, exportlog.CauseReadTimeout
	case errors.Is(err, gateway.ErrIncomplete):
		return exportlog.OutcomeFailed, exportlog.ClassTransport, exportlog.CauseIncomplete
	}
	return exportlog.OutcomeFailed, exportlog.ClassSystem, exportlog.CauseInternal
}

// reqKey identifies a request across ServeExport and ExportFailed
// without keeping it alive: connection IDs restart with each Server, the
// nanosecond of the first byte makes the pair unique.
type reqKey struct {
	id       uint64
	received int64
}

func keyOf(req *gateway.Request) reqKey {
	return reqKey{req.ID, req.Received.UnixNano()}
}

type recentReply struct {
	firstID int64
	reply   string
	later   *laterID // the attempts are being recorded after the reply
}

// laterID is the first attempt ID of an export whose attempts are
// recorded after its reply (Receiver.recordAfter): done is closed once
// the write has ended, and id is then set (0 if it failed).
type laterID struct {
	done chan struct{}
	id   int64
}

// attemptID returns the export's first attempt ID, waiting for the
// write of attempts recorded after the reply.
func (v recentReply) attemptID() int64 {
	if v.later == nil {
		return v.firstID
	}
	<-v.later.done
	return v.later.id
}

// recentReplies remembers the last few thousand replies, in a ring, so
// that a ClientGone report can name what the cataloger missed.
type recentReplies struct {
	mu   sync.Mutex
	m    map[reqKey]recentReply
	ring []reqKey
	next int
}

func newRecentReplies(n int) *recentReplies {
	return &recentReplies{m: make(map[reqKey]recentReply, n), ring: make([]reqKey, n)}
}

func (rr *recentReplies) put(req *gateway.Request, firstID int64, reply string) {
	rr.putReply(req, recentReply{firstID: firstID, reply: reply})
}

func (rr *recentReplies) putReply(req *gateway.Request, v recentReply) {
	if req.ID == 0 {
		return // not from a Server: no failure report will follow
	}
	k := keyOf(req)
	rr.mu.Lock()
	defer rr.mu.Unlock()
	if old := rr.ring[rr.next]; old != (reqKey{}) {
		delete(rr.m, old)
	}
	rr.ring[rr.next] = k
	rr.next = (rr.next + 1) % len(rr.ring)
	rr.m[k] = v
}

func (rr *recentReplies) take(req *gateway.Request) (recentReply, bool) {
	k := keyOf(req)
	rr.mu.Lock()
	defer rr.mu.Unlock()
	v, ok := rr.m[k]
	delete(rr.m, k)
	return v, ok
}
