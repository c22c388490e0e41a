// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

package redistest // import "github.com/cloudtrail-detect/ssmsession/internal/testsupport/redistest"

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// StartTLS runs redis-server accepting only TLS on Addr, with a
// certificate for 127.0.0.1 issued by a CA of its own, whose certificate
// is in the PEM file CAFile. Clients need no certificate.
func StartTLS(tb testing.TB) *Server {
	tb.Helper()
	requireRedis(tb)
	return startServer(tb, newTLSFiles(tb))
}

// tlsFiles are the PEM files of a CA and of the server certificate it
// issued for 127.0.0.1, with its key.
type tlsFiles struct{ ca, cert, key string }

func newTLSFiles(tb testing.TB) *tlsFiles {
	tb.Helper()
	dir := tb.TempDir()
	f := &tlsFiles{filepath.Join(dir, "ca.pem"), filepath.Join(dir, "redis.pem"), filepath.Join(dir, "redis-key.pem")}
	writeCerts(tb, f.ca, f.cert, f.key)
	return f
}

// caFile is the CA certificate's file, "" without TLS.
func (f *tlsFiles) caFile() string {
	if f == nil {
		return ""
	}
	return f.ca
}

// serverArgs are redis-server's arguments to listen on port: over TLS
// only, for clients, the cluster bus and replication, when f is not nil.
func (f *tlsFiles) serverArgs(port string) []string {
	if f == nil {
		return []string{"--port", port}
	}
	return []string{"--port", "0", "--tls-port", port, "--tls-cert-file", f.cert, "--tls-key-file", f.key,
		"--tls-ca-cert-file", f.ca, "--tls-auth-clients", "no", "--tls-cluster", "yes", "--tls-replication", "yes"}
}

// cliArgs are redis-cli's arguments to reach a server of serverArgs.
func (f *tlsFiles) cliArgs() []string {
	if f == nil {
		return nil
	}
	return []string{"--tls", "--cacert", f.ca}
}

// writeCerts writes a new CA's certificate, and a server certificate for
// 127.0.0.1 it issued with its key, as PEM files.
func writeCerts(tb testing.TB, caFile, certFile, keyFile string) {
	tb.Helper()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			tb.Fatal(err)
		}
		return k
	}
	now := time.Now()
	caKey, srvKey := newKey(), newKey()
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "redistest CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	srv := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		// A cluster node presents it to its peers too (bus, replication).
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		tb.Fatal(err)
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srv, ca, &srvKey.PublicKey, caKey)
	if err != nil {
		tb.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(srvKey)
	if err != nil {
		tb.Fatal(err)
	}
	for file, block := range map[string]*pem.Block{
		caFile: {Type: "CERTIFICATE", Bytes: caDER}, certFile: {Type: "CERTIFICATE", Bytes: srvDER},
		keyFile: {Type: "EC PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
			tb.Fatal(err)
		}
	}
}
