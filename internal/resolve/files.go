package resolve

import (
	"errors"
	"io/fs"
	"iter"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// watchedFile is a file parsed once per version: it is stat'ed on every use
// and parsed again only when its modification time or size changed. A
// missing file parses as empty.
type watchedFile[T any] struct {
	path  string
	parse func([]byte) T
	// last is the newest parse; readers load it without a lock, and
	// concurrent reparses of one change store equal values.
	last atomic.Pointer[fileVersion[T]]
}

type fileVersion[T any] struct {
	modTime time.Time
	size    int64 // -1 for a missing file
	value   T
}

func newWatchedFile[T any](path string, parse func([]byte) T) *watchedFile[T] {
	return &watchedFile[T]{path: path, parse: parse}
}

// current returns the parse of the file as it is now.
func (w *watchedFile[T]) current() (T, error) {
	v := &fileVersion[T]{size: -1}
	fi, err := os.Stat(w.path)
	switch {
	case err == nil:
		v.modTime, v.size = fi.ModTime(), fi.Size()
	case !errors.Is(err, fs.ErrNotExist):
		var zero T
		return zero, err
	}
	if last := w.last.Load(); last != nil && last.size == v.size && last.modTime.Equal(v.modTime) {
		return last.value, nil
	}
	var data []byte
	if v.size >= 0 {
		if data, err = os.ReadFile(w.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			var zero T
			return zero, err
		}
	}
	v.value = w.parse(data)
	w.last.Store(v)
	return v.value, nil
}

// hostsTable maps a lower-case name without trailing dot to its addresses,
// deduplicated, IPv4 first, each family in file order.
type hostsTable map[string][]netip.Addr

// parseHosts reads the hosts(5) format: an address followed by names, with
// comments from '#'. Lines whose address does not parse are skipped, as the
// C library does, since the file is shared with every other program.
func parseHosts(data []byte) hostsTable {
	table := hostsTable{}
	for line := range lines(data, "#") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		addr, err := netip.ParseAddr(f[0])
		if err != nil {
			continue
		}
		for _, name := range f[1:] {
			key := strings.ToLower(strings.TrimSuffix(name, "."))
			table[key] = append(table[key], addr)
		}
	}
	for name, addrs := range table {
		table[name] = familyOrder(addrs)
	}
	return table
}

// defaultServers are used when resolv.conf names none: resolv.conf(5) says
// the name server on the local machine is then used.
var defaultServers = []string{"127.0.0.1:53", "[::1]:53"}

// parseResolvConf returns the servers of the resolv.conf(5) nameserver
// lines, with port 53. The OpenBSD form "[addr]:port" is also accepted, so
// that a local resolver on another port can be named. Other lines (search,
// domain, options) are ignored: names are never expanded with a search
// list, and Config.Timeout governs timing. Unparsable addresses are skipped,
// as the C library does.
func parseResolvConf(data []byte) []string {
	var servers []string
	for line := range lines(data, "#;") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "nameserver" {
			continue
		}
		if addr, err := netip.ParseAddr(f[1]); err == nil {
			servers = append(servers, netip.AddrPortFrom(addr, 53).String())
			continue
		}
		host, port, err := net.SplitHostPort(f[1])
		if err != nil {
			continue
		}
		addr, err := netip.ParseAddr(host)
		p, perr := strconv.ParseUint(port, 10, 16)
		if err != nil || perr != nil || p == 0 {
			continue
		}
		servers = append(servers, netip.AddrPortFrom(addr, uint16(p)).String())
	}
	if len(servers) == 0 {
		return defaultServers
	}
	return servers
}

// lines yields data's lines with everything from any of the comment
// characters onwards removed.
func lines(data []byte, comment string) iter.Seq[string] {
	return func(yield func(string) bool) {
		for line := range strings.Lines(string(data)) {
			if i := strings.IndexAny(line, comment); i >= 0 {
				line = line[:i]
			}
			if !yield(line) {
				return
			}
		}
	}
}
