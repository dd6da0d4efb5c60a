package gateway

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Errors a Server reports to a FailureObserver (wrapped: test them with
// errors.Is) and hands to Server.ErrorReply to phrase the reply.
var (
	// ErrServerClosed is returned by Serve and ListenAndServe after
	// Shutdown or Close.
	ErrServerClosed = errors.New("gateway: server closed")

	// ErrIncomplete: the client closed, half-closed or reset the
	// connection in the middle of a field or record.
	ErrIncomplete = errors.New("gateway: incomplete request")

	// ErrReadTimeout: the request did not end (NUL or half-close) within
	// Server.ReadTimeout of the connection being accepted.
	ErrReadTimeout = errors.New("gateway: request not complete within the read timeout")

	// ErrClientGone: the handler produced a reply but it could not be
	// delivered: the client closed or reset the connection first, the
	// write failed, or the Server was closed meanwhile. The handler's
	// work (an import) stands; the cataloger never saw its outcome.
	ErrClientGone = errors.New("gateway: client gone before the reply was delivered")

	// ErrTooLarge: the request exceeded Server.MaxRequestBytes (or a
	// reply exceeded the Client's limit). Always wrapped in a *LimitError
	// by the parser.
	ErrTooLarge = errors.New("gateway: request too large")

	// ErrTooManyRecords: the request carried more than Server.MaxRecords
	// records. Always wrapped in a *LimitError.
	ErrTooManyRecords = errors.New("gateway: too many records in one request")

	// ErrBusy: the connection was refused because Server.MaxConns
	// connections were already being served. The client got a "busy"
	// reply; its request was not read.
	ErrBusy = errors.New("gateway: too many connections")

	// ErrHandlerPanic: the Handler panicked. The panic is logged with its
	// stack; the client got an error reply that does not claim the
	// export was saved or lost.
	ErrHandlerPanic = errors.New("gateway: handler panicked")

	// ErrUnencodable: AppendRequest (and so Client) cannot put the
	// request on the wire so that a receiver parses it back unchanged:
	// a credential of 192 bytes or more starting with a digit, a record
	// whose first five bytes are not its own length, or no record.
	ErrUnencodable = errors.New("gateway: request cannot be encoded")
)

// Client failure kinds. A *ClientError matches one or more of them with
// errors.Is, so a relay can tell "never reached the upstream" from "the
// upstream may have the record but did not answer".
var (
	// ErrDial: the connection could not be opened; nothing was sent.
	ErrDial = errors.New("gateway: cannot connect")

	// ErrTimeout: the Client's Timeout or the context's deadline passed
	// before the reply's NUL arrived (or, with ErrDial, while
	// connecting).
	ErrTimeout = errors.New("gateway: timed out")

	// ErrConnClosed: the server closed or reset the connection before
	// the reply's NUL.
	ErrConnClosed = errors.New("gateway: connection closed before the end of the reply")
)

// ProtocolError says that the bytes received are not a Connexion export
// request and where they stopped being one. Offset counts bytes from the
// start of the request (the first byte is offset 0); it is the offset of
// the first byte that could not be accepted (the end of the request when
// something is missing there). Msg never quotes a byte of a secret value.
type ProtocolError struct {
	Offset int64
	Msg    string
}

// Error returns "gateway: protocol error at byte N: Msg".
func (e *ProtocolError) Error() string {
	return "gateway: protocol error at byte " + strconv.FormatInt(e.Offset, 10) + ": " + e.Msg
}

// LimitError reports a request that exceeded one of the Server's limits.
// Err is ErrTooLarge (Limit in bytes) or ErrTooManyRecords (Limit in
// records); errors.Is(err, ErrTooLarge) and the like see through it.
type LimitError struct {
	Err   error
	Limit int64
}

// Error returns Err's text followed by the limit.
func (e *LimitError) Error() string {
	unit := "bytes"
	if errors.Is(e.Err, ErrTooManyRecords) {
		unit = "records"
	}
	return fmt.Sprintf("%v (limit %d %s)", e.Err, e.Limit, unit)
}

// Unwrap returns Err.
func (e *LimitError) Unwrap() error { return e.Err }

// ClientError describes a failed Client exchange. It never contains a
// credential. errors.Is(err, X) holds for each applicable kind (ErrDial,
// ErrTimeout, ErrConnClosed, ErrTooLarge, context.Canceled,
// context.DeadlineExceeded) and for the underlying network error.
type ClientError struct {
	// Op is the phase that failed: "dial", "send" or "receive".
	Op string
	// Addr is the server address dialled.
	Addr string
	// Sent reports whether the whole request had been written before the
	// failure. When true the server may have acted on it (imported the
	// record) even though no complete reply arrived, so re-sending may
	// duplicate it; when false the server cannot have seen a complete
	// request.
	Sent bool
	// Reply holds the bytes of the reply received before the failure
	// (no NUL), for the export log.
	Reply string
	// Err is the underlying cause (a *net.OpError, io.EOF, a context
	// error, ...).
	Err error

	kinds []error // sentinels, shown in Error and matched by errors.Is
	also  error   // matched by errors.Is only
}

// Error returns a one-line description such as
// "gateway: export to host:5500: receive: connection closed before the end
// of the reply (12 reply bytes received): EOF".
func (e *ClientError) Error() string {
	var b strings.Builder
	b.WriteString("gateway: export to ")
	b.WriteString(e.Addr)
	b.WriteString(": ")
	b.WriteString(e.Op)
	for _, k := range e.kinds {
		b.WriteString(": ")
		b.WriteString(strings.TrimPrefix(k.Error(), "gateway: "))
	}
	if e.Reply != "" {
		fmt.Fprintf(&b, " (%d reply bytes received)", len(e.Reply))
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the failure kinds followed by Err.
func (e *ClientError) Unwrap() []error {
	errs := make([]error, 0, len(e.kinds)+2)
	errs = append(errs, e.kinds...)
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	if e.also != nil {
		errs = append(errs, e.also)
	}
	return errs
}

// Timeout reports whether the exchange failed because a deadline passed,
// like net.Error.
func (e *ClientError) Timeout() bool { return errors.Is(e, ErrTimeout) }
