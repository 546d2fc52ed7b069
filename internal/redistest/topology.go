package redistest

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
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TLSServer is a redis-server that speaks only TLS, with a certificate signed
// by a CA made for the test.
type TLSServer struct {
	*Server
	CAFile string // PEM of the CA that signed the server's certificate
}

// StartTLS runs redis-server with --tls-port only (no plain port), its
// certificate for 127.0.0.1 and localhost signed by a new CA.
func StartTLS(t testing.TB) *TLSServer {
	t.Helper()
	dir := t.TempDir()
	caFile, certFile, keyFile := writeCertificates(t, dir)
	pool := x509.NewCertPool()
	caPEM, _ := os.ReadFile(caFile)
	pool.AppendCertsFromPEM(caPEM)
	srv := start(t, "redis-server", &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil, func(port int) []string {
		return []string{"--port", "0", "--tls-port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--tls-cert-file", certFile, "--tls-key-file", keyFile, "--tls-ca-cert-file", caFile,
			"--tls-auth-clients", "no", "--save", "", "--appendonly", "no"}
	})
	return &TLSServer{Server: srv, CAFile: caFile}
}

// writeCertificates makes a CA and a server certificate it signs, and writes
// them into dir as PEM files.
func writeCertificates(t testing.TB, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "redistest CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "redis"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	caFile, certFile, keyFile = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "redis.pem"), filepath.Join(dir, "redis.key")
	for file, block := range map[string]*pem.Block{
		caFile:   {Type: "CERTIFICATE", Bytes: caDER},
		certFile: {Type: "CERTIFICATE", Bytes: der},
		keyFile:  {Type: "EC PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return caFile, certFile, keyFile
}

// Sentinel is a master, its replica and three sentinels watching the master
// under the name MasterName.
type Sentinel struct {
	Master, Replica *Server
	Sentinels       []*Server
	MasterName      string
}

// SentinelAddrs returns the sentinels' addresses.
func (s *Sentinel) SentinelAddrs() []string {
	addrs := make([]string, len(s.Sentinels))
	for i, sn := range s.Sentinels {
		addrs[i] = sn.Addr
	}
	return addrs
}

// StartSentinel runs a master, a replica and three sentinels (quorum 2) that
// call the master down after 500ms without an answer, and waits until the
// sentinels know the replica and each other.
func StartSentinel(t testing.TB) *Sentinel {
	t.Helper()
	s := &Sentinel{MasterName: "mymaster", Master: Start(t)}
	s.Replica = start(t, "redis-server", nil, []string{"--replicaof", "127.0.0.1", strconv.Itoa(s.Master.Port)},
		func(port int) []string { return serverArgs(port) })
	dir := t.TempDir()
	for i := range 3 {
		conf := filepath.Join(dir, "sentinel-"+strconv.Itoa(i)+".conf")
		s.Sentinels = append(s.Sentinels, start(t, "redis-sentinel", nil, nil, func(port int) []string {
			body := strings.Join([]string{
				"port " + strconv.Itoa(port),
				"bind 127.0.0.1",
				"dir " + dir,
				"sentinel monitor " + s.MasterName + " 127.0.0.1 " + strconv.Itoa(s.Master.Port) + " 2",
				"sentinel down-after-milliseconds " + s.MasterName + " 500",
				"sentinel failover-timeout " + s.MasterName + " 5000",
				"sentinel parallel-syncs " + s.MasterName + " 1",
			}, "\n") + "\n"
			if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			return []string{conf}
		}))
	}
	Eventually(t, 20*time.Second, "the sentinels to know the replica and each other", func() bool {
		for _, sn := range s.Sentinels {
			info, err := sn.Do("INFO", "sentinel")
			if err != nil || !strings.Contains(info, "slaves=1,sentinels=3") {
				return false
			}
		}
		return true
	})
	return s
}

// CurrentMaster asks the first sentinel that answers for the master's address.
func (s *Sentinel) CurrentMaster(t testing.TB) string {
	t.Helper()
	for _, sn := range s.Sentinels {
		out, err := exec.Command("redis-cli", "-p", strconv.Itoa(sn.Port), "SENTINEL", "get-master-addr-by-name", s.MasterName).Output()
		if f := strings.Fields(string(out)); err == nil && len(f) == 2 {
			return net.JoinHostPort(f[0], f[1])
		}
	}
	t.Fatal("no sentinel answers")
	return ""
}

// StartCluster runs a Redis Cluster of n masters without replicas, each
// persisting to an append-only file so that a restarted master comes back
// with its slots and keys, and waits until the cluster is ok.
func StartCluster(t testing.TB, n int) []*Server {
	t.Helper()
	dir := t.TempDir()
	nodes := make([]*Server, n)
	addrs := make([]string, n)
	for i := range nodes {
		nodeDir := filepath.Join(dir, strconv.Itoa(i))
		if err := os.Mkdir(nodeDir, 0o700); err != nil {
			t.Fatal(err)
		}
		nodes[i] = start(t, "redis-server", nil, nil, func(port int) []string {
			return []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", nodeDir,
				"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "1000",
				"--save", "", "--appendonly", "yes", "--appendfsync", "always"}
		})
		addrs[i] = nodes[i].Addr
	}
	create := exec.Command("redis-cli", append([]string{"--cluster", "create"}, append(addrs, "--cluster-yes")...)...)
	if out, err := create.CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	WaitClusterOK(t, nodes)
	return nodes
}

// WaitClusterOK waits until every node of the cluster says it is ok.
func WaitClusterOK(t testing.TB, nodes []*Server) {
	t.Helper()
	Eventually(t, 20*time.Second, "the cluster to be ok", func() bool {
		for _, n := range nodes {
			if info, err := n.Do("CLUSTER", "INFO"); err != nil || !strings.Contains(info, "cluster_state:ok") {
				return false
			}
		}
		return true
	})
}

// Eventually polls cond until it holds, and fails the test after limit.
func Eventually(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(time.Millisecond)
	}
}
