// Package netutil holds the small network checks several of oclcbot's
// clients and its configuration share.
package netutil

import (
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strings"
)

// IsLoopback reports whether addr, a host or a "host:port", names the
// loopback interface: a loopback IP address or "localhost". An empty or
// wildcard host (all interfaces) is not loopback.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// AppendCAFile returns a copy of base with the PEM certificates of file
// added; a nil base means the system's roots (an empty pool where the
// system has none). The error names the file.
func AppendCAFile(base *x509.CertPool, file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var pool *x509.CertPool
	if base != nil {
		pool = base.Clone()
	} else if pool, err = x509.SystemCertPool(); err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", file)
	}
	return pool, nil
}
