package proxy

import (
	"net"
	"net/netip"
	"testing"
)

// TestAddrStringMatchesFormatting: reusing the remote address's text must
// give exactly what formatting the parsed address gives, for every shape
// of address a listener reports.
func TestAddrStringMatchesFormatting(t *testing.T) {
	for _, ip := range []string{
		"127.0.0.1", "10.1.2.3", "::1", "2001:db8::1", "2001:db8:0:0:1:0:0:1",
		"fe80::1", "::ffff:192.0.2.1", "::", "2001:DB8::A", "0:0:0:0:0:ffff:7f00:1",
	} {
		addr := &net.TCPAddr{IP: net.ParseIP(ip), Port: 4321}
		if ip == "fe80::1" {
			addr.Zone = "eth0"
		}
		remote := addr.String()
		ap, err := netip.ParseAddrPort(remote)
		if err != nil {
			t.Fatalf("%s: %v", remote, err)
		}
		client := ap.Addr().Unmap()
		if got, want := addrString(remote, ap, client), client.String(); got != want {
			t.Errorf("addrString(%q) = %q, want %q", remote, got, want)
		}
	}
}

func TestAddrStringAllocatesNothingForPlainAddresses(t *testing.T) {
	for _, remote := range []string{"127.0.0.1:8080", "[::1]:8080"} {
		ap := netip.MustParseAddrPort(remote)
		client := ap.Addr().Unmap()
		if n := testing.AllocsPerRun(100, func() { addrString(remote, ap, client) }); n != 0 {
			t.Errorf("addrString(%q): %v allocations, want 0", remote, n)
		}
	}
}
