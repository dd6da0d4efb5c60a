package mailbox

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapserver"
)

// selfSigned returns a server certificate for 127.0.0.1 and the path of
// a PEM file holding it, as an admin would give the watcher (CAFile).
func selfSigned(t *testing.T) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "imap test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, path
}

func TestWatcherImplicitTLS(t *testing.T) {
	cert, ca := selfSigned(t)
	tc := &tls.Config{Certificates: []tls.Certificate{cert}}
	srv := newIMAPServer(t, func(o *imapserver.Options) { o.InsecureAuth = false },
		func(ln net.Listener) net.Listener { return tls.NewListener(ln, tc) })
	r := newRig(t, srv.addr)
	r.cfg.Security, r.cfg.CAFile = SecurityTLS, ca
	srv.deliver(t, readMail(t, "echo.eml"))
	r.start()
	r.eventually("the mail over TLS", 0, func() bool { return len(r.rec.got()) == 1 && srv.count("INBOX") == 0 })
}

func TestWatcherStartTLS(t *testing.T) {
	cert, ca := selfSigned(t)
	srv := newIMAPServer(t, func(o *imapserver.Options) {
		o.InsecureAuth = false // LOGIN only after STARTTLS
		o.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	})
	r := newRig(t, srv.addr)
	r.cfg.Security, r.cfg.CAFile = SecurityStartTLS, ca
	srv.deliver(t, readMail(t, "echo.eml"))
	r.start()
	r.eventually("the mail after STARTTLS", 0, func() bool { return len(r.rec.got()) == 1 && srv.count("INBOX") == 0 })
}

func TestWatcherRefusesUntrustedCertificate(t *testing.T) {
	cert, _ := selfSigned(t)
	tc := &tls.Config{Certificates: []tls.Certificate{cert}}
	srv := newIMAPServer(t, nil, func(ln net.Listener) net.Listener { return tls.NewListener(ln, tc) })
	r := newRig(t, srv.addr)
	r.cfg.Security = SecurityTLS // system roots: the self-signed certificate is not trusted
	srv.deliver(t, readMail(t, "echo.eml"))
	w, stop := r.start()
	r.eventually("a refused connection", 0, func() bool { return w.Stats().SessionsLost >= 1 })
	stop()
	if len(r.rec.got()) != 0 || !strings.Contains(r.logs.String(), "certificate") {
		t.Errorf("connected to an untrusted server\n%s", r.logs.String())
	}
	if strings.Contains(r.logs.String(), testPassword) {
		t.Error("the password is in the log")
	}
}
