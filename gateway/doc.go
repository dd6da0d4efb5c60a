// Package gateway speaks the OCLC Connexion "Gateway export" protocol,
// byte for byte as docs/connexion-gateway.md describes it: the framing of
// requests (U/A/P credential fields with their three length forms, records
// framed by their five-digit ISO 2709 length, ended by NUL or by the
// client half-closing) and of replies (text, then one NUL).
//
// Server is the receiving end, shaped like net/http's: limits and timeouts
// as fields, Serve, ListenAndServe, Shutdown and Close. It hands each
// complete request to a Handler and writes the text it returns, then
// waits for the client to close the connection, as Connexion expects.
// Failures in transport or framing get a reply for the cataloger and are
// reported to a Handler that implements FailureObserver. An HTTP GET on
// the same port answers "HTTP/1.0 200 OK" for load balancers.
//
// Parser is the incremental request parser the Server uses, exposed for
// tools and tests; ParseRequest parses a request held in memory.
// AppendRequest encodes one, and Client sends one and reads the reply.
//
// The package frames records; it does not decode MARC. Passwords never
// appear in its errors or logs, nor in a Request's printed forms or Raw
// bytes.
package gateway
