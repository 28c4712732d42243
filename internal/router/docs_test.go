package router

import (
	"os"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
)

// TestRoutingDocExample checks that docs/routing.md's example table says
// what the router does with the example's routes.
func TestRoutingDocExample(t *testing.T) {
	doc, err := os.ReadFile("../../docs/routing.md")
	if err != nil {
		t.Fatal(err)
	}
	_, examples, ok := strings.Cut(string(doc), "\n## Examples\n")
	if !ok {
		t.Fatal("docs/routing.md has no Examples section")
	}
	_, block, _ := strings.Cut(examples, "```yaml\n")
	block, table, ok := strings.Cut(block, "```\n")
	if !ok {
		t.Fatal("docs/routing.md: Examples has no yaml block")
	}

	var file struct {
		Routes []struct {
			Host        string  `yaml:"host"`
			PathPrefix  *string `yaml:"path_prefix"`
			StripPrefix bool    `yaml:"strip_prefix"`
			Upstream    string  `yaml:"upstream"`
		} `yaml:"routes"`
	}
	if err := yaml.Unmarshal([]byte(block), &file); err != nil {
		t.Fatalf("docs/routing.md example: %v", err)
	}
	routes := make([]Route, len(file.Routes))
	for i, r := range file.Routes {
		routes[i] = Route{Host: r.Host, PathPrefix: "/", StripPrefix: r.StripPrefix}
		if r.PathPrefix != nil {
			routes[i].PathPrefix = *r.PathPrefix
		}
	}
	router := New(routes)

	rows := 0
	for line := range strings.Lines(table) {
		cells := strings.Split(line, "|")
		if len(cells) != 7 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			continue
		}
		for i := range cells {
			cells[i] = strings.Trim(strings.TrimSpace(cells[i]), "`")
		}
		host, path, upstream, forwarded := cells[1], cells[2], cells[3], cells[4]
		rows++
		t.Run(host+path, func(t *testing.T) {
			i, ok := router.Match(host, path)
			if !ok {
				t.Fatalf("no route, doc says %s", upstream)
			}
			if got := file.Routes[i].Upstream; got != upstream {
				t.Errorf("upstream %s, doc says %s", got, upstream)
			}
			if got := router.Rewrite(i, path); got != forwarded {
				t.Errorf("forwarded path %s, doc says %s", got, forwarded)
			}
		})
	}
	if rows == 0 {
		t.Fatal("docs/routing.md: found no example rows")
	}
}
