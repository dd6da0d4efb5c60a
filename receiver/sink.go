package receiver

import (
	"context"
	"database/sql"
	"time"

	"github.com/oclcbot/oclcbot/exportlog"
	"github.com/oclcbot/oclcbot/gateway"
	"github.com/oclcbot/oclcbot/marc"
)

// Sink is where records go once the receiver has authenticated the
// request, decoded each record and applied the import rules: the embedded
// catalog, or the upstream ILS listener in relay mode.
type Sink interface {
	// Name identifies the sink as a detector target and in the export log:
	// "catalog", or "upstream:HOST:PORT".
	Name() string
	// Deliver stores or forwards exp.Items and returns one Result per item,
	// in the same order. It returns only when each outcome is final: a
	// Result that says a record is safe (Outcome.Succeeded) means it is
	// committed to durable storage (or accepted by the upstream). Deliver
	// must honour ctx for waiting but must never report success for a
	// record it did not keep.
	Deliver(ctx context.Context, exp *Export) []Result
}

// Export is one request's worth of decoded records, handed to a Sink.
type Export struct {
	Request *gateway.Request // the request as parsed; Password is secret
	User    string           // the authenticated login ("" on an open loopback listener)
	Canary  bool             // a probe's export: exercise the path, store nothing
	Items   []*Item

	// RecordIn, when not nil, lets a sink that keeps records in
	// oclcbot's own database record the export's attempt in the same
	// transaction as the record, so that the reply waits for one commit
	// instead of two. The receiver sets it only for an export of one
	// item that is not a canary. A sink may ignore it (the receiver
	// then records the attempt itself, after Deliver). A sink that
	// uses it calls it at most once, inside a write function of that
	// database made for the item (the one that stored it, or one that
	// records it), once that function cannot fail any more, with the
	// item's Result (Elapsed aside): the one Deliver will return if the
	// write commits. When it returns a function, the
	// sink must call it exactly once, with the write's result, as soon
	// as the write has returned and before Deliver returns.
	RecordIn func(tx *sql.Tx, res Result) (done func(writeErr error))
}

// Item is one record of an export, decoded and prepared.
type Item struct {
	Index    int          // position of the record in the request, from 0
	Raw      []byte       // the record exactly as received
	Original *marc.Record // Raw decoded, in its original character coding
	Record   *marc.Record // converted to UTF-8 (leader/09 'a') with the import rules applied: what the catalog stores

	OCLCNumber  string   // primary OCLC number (normalised), "" when none; taken before the rules ran
	OCLCNumbers []string // every OCLC number the record carries (001/035/019), primary first
	Target      string   // local system number named by a targeting 035 ($a with the configured prefix), "" when none; the 035 is already removed from Record
	Hash        string   // content hash of Record for repeated-export detection (ignores 005)
	Title       string   // for people (245), UTF-8
	Author      string   // for people (1XX), UTF-8
}

// Result is a Sink's verdict on one Item.
type Result struct {
	Outcome      exportlog.Outcome
	Class        exportlog.Class // ClassNone on success
	Cause        string          // exportlog.Cause* on failure
	Detail       string          // for the systems office; never shown to catalogers verbatim, never secrets
	SystemNumber string          // the local record stored, overlaid or targeted ("000123456" style, or the upstream's number when known)
	Sharing      []string        // system numbers of other catalog records that share the OCLC number (for the reply's duplicate hint)
	Previous     *Previous       // for OutcomeDuplicate: the earlier export it repeats
	Policy       DuplicatePolicy // for OutcomeDuplicate: what was done with the repeat ("" means DuplicateSkip: nothing changed)
	Uncertain    bool            // for OutcomeFailed: the record may have been stored anyway (an upstream that took the whole record and did not answer), so the reply must not invite a re-export
	Upstream     string          // the upstream's reply, verbatim (relay)
	Reply        string          // when not empty, sent to the cataloger verbatim instead of the rendered template (relay passes the upstream's reply back)
	Elapsed      time.Duration   // time spent storing or forwarding
}

// Previous describes an earlier export of the same record.
type Previous struct {
	SystemNumber string
	Time         time.Time
}
