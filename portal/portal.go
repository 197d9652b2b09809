// Package portal is the customer dashboard: the pages, script and styles a
// platform's customer opens from a link minted with POST /v1/portal/sessions.
// They are embedded in the binary and talk only to the /v1 API with the
// link's token; nothing is built and nothing is fetched from another host.
package portal

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed static
var static embed.FS

// Options configure the portal.
type Options struct {
	// FrameAncestors are the origins allowed to embed the portal in an
	// iframe; none when empty.
	FrameAncestors []string
}

// New returns the handler that serves the portal under /portal/.
func New(opts Options) http.Handler {
	ancestors := "'none'"
	if len(opts.FrameAncestors) > 0 {
		ancestors = strings.Join(opts.FrameAncestors, " ")
	}
	csp := "default-src 'self'; script-src 'self'; frame-ancestors " + ancestors
	sub, _ := fs.Sub(static, "static") // cannot fail: the folder is embedded
	files := http.StripPrefix("/portal", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Content-Type-Options", "nosniff")
		// The pages change with the binary; revalidating costs one
		// conditional request each.
		h.Set("Cache-Control", "no-cache")
		switch {
		case r.URL.Path == "/portal":
			http.Redirect(w, r, "/portal/", http.StatusMovedPermanently)
			return
		case !strings.HasPrefix(r.URL.Path, "/portal/"), strings.HasSuffix(r.URL.Path, "/") && r.URL.Path != "/portal/":
			http.NotFound(w, r) // no folder listings
			return
		}
		files.ServeHTTP(w, r)
	})
}
