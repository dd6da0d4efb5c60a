package mailbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/oclcbot/oclcbot/bot"
)

// errRetry stops a scan at a message whose handler failed temporarily.
var errRetry = errors.New("retry later")

// scan handles, in UID order, every message above the last handled UID.
// It stops at the first message whose handler fails temporarily (so the
// last UID never skips one) and sets retryIn.
func (s *session) scan(ctx context.Context) error {
	select {
	case <-s.wake: // this scan sees what the EXISTS announced
	default:
	}
	s.retryIn = 0
	var uids []imap.UID
	if err := s.guard("search new", func() error {
		data, err := s.c.UIDSearch(&imap.SearchCriteria{UID: []imap.UIDSet{{{Start: s.last + 1, Stop: 0}}}}, nil).Wait()
		if err == nil {
			uids = data.AllUIDs()
		}
		return err
	}); err != nil {
		return err
	}
	// "UID n:*" includes the highest UID even when it is below n.
	uids = slices.DeleteFunc(uids, func(u imap.UID) bool { return u <= s.last })
	slices.Sort(uids)
	for _, uid := range uids {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		err := s.process(ctx, uid)
		if errors.Is(err, errRetry) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// process handles one message: fetch, classify, hand over, record, move.
func (s *session) process(ctx context.Context, uid imap.UID) error {
	w := s.w
	section := &imap.FetchItemBodySection{Peek: true, Partial: &imap.SectionPartial{Offset: 0, Size: int64(w.cfg.MaxMessageBytes)}}
	var msgs []*imapclient.FetchMessageBuffer
	if err := s.guard(fmt.Sprintf("fetch %d", uid), func() error {
		bufs, err := s.c.Fetch(imap.UIDSetNum(uid), &imap.FetchOptions{
			UID: true, RFC822Size: true, InternalDate: true, BodySection: []*imap.FetchItemBodySection{section},
		}).Collect()
		for _, b := range bufs {
			if b.UID == uid {
				msgs = append(msgs, b)
			}
		}
		return err
	}); err != nil {
		return err
	}
	log := w.log.With("uid", uid)
	if len(msgs) == 0 {
		// Someone moved or deleted it meanwhile: nothing to do or move.
		log.Info("message gone before it was read")
		return s.recordOnly(ctx, uid, fmt.Sprintf("uid:%d:%d", s.validity, uid), "gone")
	}
	m := msgs[0]
	var raw []byte
	if len(m.BodySection) > 0 {
		raw = m.BodySection[0].Bytes
	}
	truncated := m.RFC822Size > int64(len(raw))

	p, perr := parse(raw)
	if perr != nil {
		w.stats.ignored.Add(1)
		log.Warn("unreadable message: moved without acting on it", "err", perr, "size", m.RFC822Size)
		return s.finish(ctx, uid, headerKey(raw), "unreadable: "+perr.Error())
	}
	log = log.With("message_id", p.messageID, "from", p.from, "subject", p.subject)
	if seen, err := w.st.seen(ctx, p.key); err != nil {
		return s.later(ctx, log, uid, p.key, err)
	} else if seen {
		w.stats.duplicates.Add(1)
		log.Info("message handled before (same Message-ID): moved")
		return s.finish(ctx, uid, p.key, "duplicate")
	}
	if w.cfg.MaxAge > 0 && !m.InternalDate.IsZero() && w.cfg.Clock.Now().Sub(m.InternalDate) > w.cfg.MaxAge {
		w.stats.ignored.Add(1)
		log.Warn("message too old to act on: moved", "delivered", m.InternalDate, "max_age", w.cfg.MaxAge)
		return s.finish(ctx, uid, p.key, "stale")
	}
	ev, why := classify(p, w.cfg.Self)
	if ev == nil {
		w.stats.ignored.Add(1)
		log.Info("message ignored", "reason", why)
		return s.finish(ctx, uid, p.key, "ignored: "+string(why))
	}
	if sr, ok := ev.(*bot.StaffReport); ok && truncated {
		sr.Text += fmt.Sprintf("\n\n[oclcbot: only the first %d of %d bytes of this mail were read]", len(raw), m.RFC822Size)
	}
	if err := w.handle(ctx, ev); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !w.cfg.Permanent(err) {
			return s.later(ctx, log, uid, p.key, err)
		}
		w.stats.rejected.Add(1)
		log.Warn("mail not acted on", "reason", why, "err", err)
		return s.finish(ctx, uid, p.key, "rejected: "+err.Error())
	}
	w.stats.handled.Add(1)
	w.succeeded(p.key)
	log.Info("mail handled", "reason", why)
	return s.finish(ctx, uid, p.key, string(why))
}

// later handles a temporary failure of the message key: retry after a
// backoff, or give up after MaxAttempts.
func (s *session) later(ctx context.Context, log *slog.Logger, uid imap.UID, key string, err error) error {
	giveUp, wait := s.w.failed(key)
	s.w.stats.failed.Add(1)
	if !giveUp {
		log.Warn("mail not handled yet: will retry", "err", err, "retry_in", wait)
		s.retryIn = wait
		return errRetry
	}
	s.w.stats.gaveUp.Add(1)
	log.Error("mail given up after repeated failures: moved without acting on it; handle it by hand",
		"err", err, "attempts", s.w.cfg.MaxAttempts, "done_folder", s.w.cfg.DoneFolder)
	return s.finish(ctx, uid, key, "given up: "+err.Error())
}

// finish records the message as handled, then moves it.
func (s *session) finish(ctx context.Context, uid imap.UID, key, outcome string) error {
	if err := s.recordOnly(ctx, uid, key, outcome); err != nil {
		return err
	}
	return s.move(uid)
}

func (s *session) recordOnly(ctx context.Context, uid imap.UID, key, outcome string) error {
	if len(outcome) > 500 {
		outcome = outcome[:500]
	}
	if err := s.w.st.record(ctx, s.validity, uid, key, outcome); err != nil {
		return err
	}
	s.last = max(s.last, uid)
	return nil
}
