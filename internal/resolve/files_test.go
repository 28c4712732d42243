package resolve

import (
	"net/netip"
	"slices"
	"testing"
)

func TestParseResolvConf(t *testing.T) {
	tests := []struct {
		name string
		conf string
		want []string
	}{
		{"one server", "nameserver 192.0.2.53\n", []string{"192.0.2.53:53"}},
		{"in order, IPv6", "nameserver 192.0.2.53\nnameserver 2001:db8::53\n", []string{"192.0.2.53:53", "[2001:db8::53]:53"}},
		{"OpenBSD port form", "nameserver [127.0.0.1]:5353\nnameserver [::1]:5353\n", []string{"127.0.0.1:5353", "[::1]:5353"}},
		{"comments and other lines", "# generated\n; old style\nsearch corp.test\noptions ndots:5 timeout:1\nnameserver 192.0.2.53 # primary\n", []string{"192.0.2.53:53"}},
		{"unparsable addresses skipped", "nameserver dns.test\nnameserver [::1]:0\nnameserver 192.0.2.53\n", []string{"192.0.2.53:53"}},
		{"no servers: the local machine", "search corp.test\n", defaultServers},
		{"missing file", "", defaultServers},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseResolvConf([]byte(tt.conf)); !slices.Equal(got, tt.want) {
				t.Errorf("servers = %q; want %q", got, tt.want)
			}
		})
	}
}

func TestParseHosts(t *testing.T) {
	tests := []struct {
		name  string
		hosts string
		want  hostsTable
	}{
		{"aliases", "10.0.0.1 app.test app\n", hostsTable{"app.test": addrs("10.0.0.1"), "app": addrs("10.0.0.1")}},
		{"lines merged, IPv4 first, deduplicated", "::1 lo\n127.0.0.1 lo\n127.0.0.1 lo\n", hostsTable{"lo": addrs("127.0.0.1", "::1")}},
		{"case and trailing dot folded", "10.0.0.1 App.Test.\n", hostsTable{"app.test": addrs("10.0.0.1")}},
		{"comments", "# all\n10.0.0.1 a # b\n", hostsTable{"a": addrs("10.0.0.1")}},
		{"zone kept", "fe80::1%lo lo6\n", hostsTable{"lo6": []netip.Addr{netip.MustParseAddr("fe80::1%lo")}}},
		{"bad lines skipped", "bogus a\n10.0.0.1\n10.0.0.2 b", hostsTable{"b": addrs("10.0.0.2")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseHosts([]byte(tt.hosts))
			if len(got) != len(tt.want) {
				t.Fatalf("table = %v; want %v", got, tt.want)
			}
			for name, want := range tt.want {
				if !slices.Equal(got[name], want) {
					t.Errorf("%s = %v; want %v", name, got[name], want)
				}
			}
		})
	}
}
