package testpki

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"os"
	"testing"
)

// A server and a client with certificates of two CAs complete a mutual TLS
// handshake, and the files written hold what was issued.
func TestMutualTLS(t *testing.T) {
	serverCA, clientCA := NewCA(t, "server CA"), NewCA(t, "client CA")
	server := serverCA.Issue(t, "server", x509.ExtKeyUsageServerAuth, net.IPv4(127, 0, 0, 1))
	client := clientCA.Issue(t, "client", x509.ExtKeyUsageClientAuth)
	if server.Cert.SerialNumber.Cmp(client.Cert.SerialNumber) == 0 {
		t.Fatal("two certificates with one serial number")
	}

	dir := t.TempDir()
	pair, err := tls.LoadX509KeyPair(WriteFile(t, dir, "s.pem", server.CertPEM), WriteFile(t, dir, "s.key", server.KeyPEM))
	if err != nil {
		t.Fatalf("written key pair: %v", err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{pair},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    clientCA.Pool(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = conn.Write([]byte("ok"))
	}()

	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{
		RootCAs:      serverCA.Pool(),
		Certificates: []tls.Certificate{client.TLS},
	})
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	defer conn.Close()
	if got, err := io.ReadAll(conn); err != nil || string(got) != "ok" {
		t.Fatalf("read %q, %v", got, err)
	}
	if info, err := os.Stat(dir + "/s.key"); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v", info, err)
	}
}
