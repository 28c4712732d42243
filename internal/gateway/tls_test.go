package gateway_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portico-proxy/portico/internal/faults"
)

// writeLeaf issues a certificate for localhost from ca and writes it and
// its key as PEM files, returning their paths and the certificate.
func writeLeaf(t *testing.T, ca *faults.CA, name string) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	leaf, err := ca.Issue(faults.LeafOptions{DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalECPrivateKey(leaf.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, leaf.Leaf
}

// TestHTTPSListener: clients reach the upstream over HTTPS, with HTTP/2
// or HTTP/1.1 as they negotiate; the upstream learns the request came
// over HTTPS; a reload presents a new certificate to new handshakes.
func TestHTTPSListener(t *testing.T) {
	ca, err := faults.NewCA("portico test CA")
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, first := writeLeaf(t, ca, "first")
	app := startRawUpstream(t, func(c net.Conn, req *http.Request) {
		body := "proto=" + req.Header.Get("X-Forwarded-Proto")
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body)
	})
	config := func(cert, key string) string {
		return `
listen: "127.0.0.1:0"
trusted_networks: ["127.0.0.0/8"]
tls:
  listen: ["127.0.0.1:0"]
  certificates:
    - {cert_file: "` + cert + `", key_file: "` + key + `"}
upstreams:
  app:
    targets: ["http://` + app + `"]
routes:
  - upstream: app
`
	}
	h := startGateway(t, config(certFile, keyFile), nil)
	url := "https://localhost:" + portOf(t, h.g.TLSAddrs()[0]) + "/"
	client := func(h2 bool) *http.Client {
		tr := &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: ca.Pool()},
			ForceAttemptHTTP2: h2,
			DisableKeepAlives: true,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, strings.Replace(addr, "localhost", "127.0.0.1", 1))
			},
		}
		if !h2 {
			tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		}
		return &http.Client{Transport: tr, Timeout: 5 * time.Second}
	}
	for _, tc := range []struct {
		h2    bool
		proto string
	}{{true, "HTTP/2.0"}, {false, "HTTP/1.1"}} {
		resp, err := client(tc.h2).Get(url)
		if err != nil {
			t.Fatalf("HTTPS GET (%s): %v", tc.proto, err)
		}
		body := readBody(t, resp)
		if resp.StatusCode != 200 || resp.Proto != tc.proto || body != "proto=https" {
			t.Errorf("HTTPS GET: %d %s %q, want 200 %s and the upstream told https", resp.StatusCode, resp.Proto, body, tc.proto)
		}
		if got := resp.TLS.PeerCertificates[0].SerialNumber; got.Cmp(first.SerialNumber) != 0 {
			t.Errorf("presented certificate %v, want the configured one %v", got, first.SerialNumber)
		}
	}

	certFile2, keyFile2, second := writeLeaf(t, ca, "second")
	h.setConfig(config(certFile2, keyFile2), nil)
	if err := h.g.Reload(); err != nil {
		t.Fatal(err)
	}
	resp, err := client(false).Get(url)
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	if got := resp.TLS.PeerCertificates[0].SerialNumber; got.Cmp(second.SerialNumber) != 0 {
		t.Errorf("after a reload the certificate presented is %v, want the new one %v", got, second.SerialNumber)
	}
}

func portOf(t *testing.T, a net.Addr) string {
	t.Helper()
	_, port, err := net.SplitHostPort(a.String())
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// TestHTTPSRedirect: a route with https_redirect answers plain HTTP with
// a 308 to the same URL over HTTPS, and serves HTTPS as usual.
func TestHTTPSRedirect(t *testing.T) {
	ca, err := faults.NewCA("portico test CA")
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, _ := writeLeaf(t, ca, "leaf")
	app := startFault(t, faults.OK)
	httpsAddr := freeAddr(t)
	h := startGateway(t, `
listen: "127.0.0.1:0"
tls:
  listen: ["`+httpsAddr+`"]
  certificates:
    - {cert_file: "`+certFile+`", key_file: "`+keyFile+`"}
upstreams:
  app:
    targets: ["`+app.URL()+`"]
trusted_networks: ["127.0.0.0/8"]
routes:
  - upstream: app
    https_redirect: true
`, nil)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest(http.MethodPost, h.URL+"/shop/cart?item=42", strings.NewReader("x"))
	req.Host = "shop.example:8080"
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	want := "https://shop.example:" + portOf(t, h.g.TLSAddrs()[0]) + "/shop/cart?item=42"
	if resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != want {
		t.Errorf("plain HTTP: %d Location %q, want 308 %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}

	// A load balancer in front, trusted, says the client used HTTPS.
	req, _ = http.NewRequest(http.MethodGet, h.URL+"/", nil)
	req.Header.Set("X-Forwarded-Proto", "https")
	resp, err = noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("plain HTTP from a trusted proxy that says https: %d, want 200, not a redirect loop", resp.StatusCode)
	}

	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"}}
	resp, err = (&http.Client{Transport: tr, CheckRedirect: noFollow.CheckRedirect}).Get("https://" + httpsAddr + "/")
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("HTTPS: %d, want the upstream's 200", resp.StatusCode)
	}
}
