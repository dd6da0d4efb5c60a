//go:build !unix

package gateway

import "net"

// writeNow writes nothing and returns 0, nil: the caller writes the whole
// request with conn.Write while it reads the reply.
func writeNow(net.Conn, []byte) (n int, err error) { return 0, nil }
