package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// docBlock is a fenced code block of docs/config.md.
type docBlock struct {
	info, text string
	line       int
}

func docBlocks(t *testing.T, path string) []docBlock {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []docBlock
	var current *docBlock
	for i, line := range strings.Split(string(data), "\n") {
		fence, isFence := strings.CutPrefix(line, "```")
		switch {
		case isFence && current == nil:
			current = &docBlock{info: fence, line: i + 1}
		case isFence:
			blocks = append(blocks, *current)
			current = nil
		case current != nil:
			current.text += line + "\n"
		}
	}
	return blocks
}

// TestDocExamples keeps docs/config.md true: every yaml block is a valid
// config, and every "yaml invalid" block prints exactly the console block
// that follows it.
func TestDocExamples(t *testing.T) {
	// The examples name files beside the config and read APP_HOST.
	dir := t.TempDir()
	ca, err := os.ReadFile("testdata/files/ca.pem")
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string][]byte{
		"internal-ca.pem": ca,
		"errors/502.html": []byte("<p>Bad gateway</p>\n"),
	} {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := func(name string) (string, bool) {
		if name == "APP_HOST" {
			return "10.0.0.7", true
		}
		return "", false
	}

	blocks := docBlocks(t, "../../docs/config.md")
	tested := 0
	for i, block := range blocks {
		switch block.info {
		case "yaml":
			t.Run(strings.TrimSpace(strings.SplitN(block.text, "\n", 2)[0]), func(t *testing.T) {
				if _, err := Parse(filepath.Join(dir, "portico.yaml"), []byte(block.text), env); err != nil {
					t.Errorf("docs/config.md:%d: example does not parse:\n%v", block.line, err)
				}
			})
			tested++
		case "yaml invalid":
			t.Run("invalid example", func(t *testing.T) {
				if i+1 == len(blocks) || blocks[i+1].info != "console" {
					t.Fatalf("docs/config.md:%d: no console block follows", block.line)
				}
				// Run beside the example's files, so that its relative
				// names mean what they would for a user.
				t.Chdir(dir)
				_, err := Parse("portico.yaml", []byte(block.text), env)
				var list ErrorList
				if !errors.As(err, &list) {
					t.Fatalf("docs/config.md:%d: error = %v, want an ErrorList", block.line, err)
				}
				var got bytes.Buffer
				if err := list.Print(&got); err != nil {
					t.Fatal(err)
				}
				if want := blocks[i+1].text; got.String() != want {
					t.Errorf("docs/config.md:%d: console block is stale; it should read:\n%s", blocks[i+1].line, got.String())
				}
			})
			tested++
		}
	}
	if tested < 5 {
		t.Errorf("found only %d yaml examples in docs/config.md", tested)
	}
}

// TestConcernDocExamples keeps the examples of the docs that explain one
// concern's keys valid configurations.
func TestConcernDocExamples(t *testing.T) {
	for _, doc := range []string{"health.md", "policy.md"} {
		tested := 0
		for _, block := range docBlocks(t, "../../docs/"+doc) {
			if block.info != "yaml" {
				continue
			}
			tested++
			if _, err := Parse("portico.yaml", []byte(block.text), nil); err != nil {
				t.Errorf("docs/%s:%d: example does not parse:\n%v", doc, block.line, err)
			}
		}
		if tested == 0 {
			t.Errorf("docs/%s has no yaml examples", doc)
		}
	}
}
