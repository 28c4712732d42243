package admin

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"net/http"
)

// dashboardHTML is the whole dashboard: markup, style and script in one
// file, so the page needs nothing from outside the admin server.
//
//go:embed dashboard.html
var dashboardHTML []byte

// dashboardPolicy lets the page run only its own inline style and script,
// found by hash, and fetch only from the admin server: data shown on the
// page (upstream error text, request IDs) can never load or run anything.
var dashboardPolicy = "default-src 'none'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'" +
	"; style-src " + inlineHash(dashboardHTML, "<style>", "</style>") +
	"; script-src " + inlineHash(dashboardHTML, "<script>", "</script>")

// inlineHash returns the CSP source expression for the one inline element
// between open and close in page (CSP Level 3, "hash-source").
func inlineHash(page []byte, open, close string) string {
	_, rest, ok1 := bytes.Cut(page, []byte(open))
	body, _, ok2 := bytes.Cut(rest, []byte(close))
	if !ok1 || !ok2 {
		panic("admin: dashboard.html has no " + open + " element")
	}
	sum := sha256.Sum256(body)
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

func serveDashboard(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", dashboardPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	w.Write(dashboardHTML)
}
