package relay

import (
	"fmt"
	"strings"
)

// Listener names the Connexion receiver that the upstream runs, so that
// the relay speaks to it as that receiver expects. What the relay does
// for each, and why (from their source):
//
//   - ListenerKoha, Koha's misc/bin/connexion_import_daemon.pl: one
//     connection at a time; it reads until the NUL that ends the request
//     (or the end of the stream, or 5 seconds without data), answers,
//     and closes. Probe default ProbeEmpty (it answers "Bad request").
//     It ignores the login sent unless its connexion_user is set; then
//     configure Credentials with that login, as a queued record is sent
//     without the cataloger's password after a restart.
//   - ListenerFOLIO, FOLIO's edge-connexion: it imports as soon as one
//     whole record has arrived, answers, and keeps the connection open
//     until the client closes it or it has been idle for 30 seconds. It
//     logs in with the A field (an API key, or "tenant user password"):
//     configure Credentials.LocalUser. Probe default ProbeHTTP (it
//     answers "HTTP/1.0 200 OK" on the same port). A client that closes
//     its sending side loses FOLIO's reply, so the relay never does.
//   - ListenerEvergreen, Evergreen's marc_stream_importer: it reads up
//     to the first record terminator (0x1D) within 5 seconds of the
//     connection, hands everything read to Vandelay, answers and closes.
//     Vandelay takes a request that does not start with a digit for
//     MARCXML and imports nothing, so the relay sends the record alone:
//     no U, A or P field, whatever the cataloger sent, and Credentials
//     are refused. It has no authentication. Probe default ProbeConnect.
//     Its empty reply then means that Vandelay found nothing it could
//     import in the record: a refusal of the record itself (see
//     Rule.Refusal and Config.MaxRefusals), as is "Failed to import".
//   - ListenerAleph, Ex Libris Aleph's oclc_server: no public source;
//     Probe default ProbeConnect.
//   - ListenerOCLCBot, another oclcbot: Probe default ProbeHTTP.
//   - ListenerOther (""), anything else: the cataloger's login (or
//     Credentials) is forwarded; Probe default ProbeConnect.
type Listener string

// Listeners.
const (
	ListenerOther     Listener = ""
	ListenerKoha      Listener = "koha"
	ListenerFOLIO     Listener = "folio"
	ListenerEvergreen Listener = "evergreen"
	ListenerAleph     Listener = "aleph"
	ListenerOCLCBot   Listener = "oclcbot"
)

// Listeners returns the names Config.Listener accepts, for messages.
func Listeners() []Listener {
	return []Listener{ListenerKoha, ListenerFOLIO, ListenerEvergreen, ListenerAleph, ListenerOCLCBot}
}

// defaultProbe is the listener's Probe when Config.Probe is empty.
func (l Listener) defaultProbe() Probe {
	switch l {
	case ListenerKoha:
		return ProbeEmpty
	case ListenerFOLIO, ListenerOCLCBot:
		return ProbeHTTP
	}
	return ProbeConnect
}

// sendsLogin reports whether records go to the listener with a login.
func (l Listener) sendsLogin() bool { return l != ListenerEvergreen }

// check reports an unknown listener, or one that cannot work with cfg.
func (l Listener) check(cfg *Config) error {
	switch l {
	case ListenerOther, ListenerKoha, ListenerFOLIO, ListenerAleph, ListenerOCLCBot:
		return nil
	case ListenerEvergreen:
		if cfg.Credentials != nil {
			return fmt.Errorf("relay: Evergreen's marc_stream_importer takes no login (one in front of the record makes it import nothing): remove the upstream credentials")
		}
		return nil
	}
	names := make([]string, 0, 5)
	for _, k := range Listeners() {
		names = append(names, string(k))
	}
	return fmt.Errorf("relay: unknown listener %q (known: %s, or empty for another one)", l, strings.Join(names, ", "))
}
