package docs

import (
	"context"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// The reference shows every operation and schema of the spec, escapes the
// spec's text, and loads nothing from anywhere.
func TestReference(t *testing.T) {
	page, err := Reference()
	if err != nil {
		t.Fatal(err)
	}
	html := string(page)
	doc, err := openapi3.NewLoader().LoadFromData(OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatal(err)
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.OperationID == "" {
				t.Errorf("%s %s has no operationId", method, path)
				continue
			}
			if !strings.Contains(html, `id="op-`+op.OperationID+`"`) {
				t.Errorf("%s %s (%s) is not on the page", method, path, op.OperationID)
			}
		}
	}
	for name := range doc.Components.Schemas {
		if !strings.Contains(html, `id="schema-`+name+`"`) || !strings.Contains(html, `href="#schema-`+name+`"`) {
			t.Errorf("schema %s is not on the page or not linked", name)
		}
	}
	for _, banned := range []string{"<script", "src=", "://", "@import", "url("} {
		if strings.Contains(html, banned) {
			t.Errorf("the page contains %q: it must load nothing", banned)
		}
	}
	// The spec's description says `Authorization: Bearer <token>`: text, not a tag.
	if !strings.Contains(html, "Bearer &lt;token&gt;") || strings.Contains(html, "<token>") {
		t.Errorf("the spec's text is not escaped")
	}
	// Constraints are shown: the list limit's bounds and default.
	if !strings.Contains(html, "minimum 1; maximum 100; default 20") {
		t.Errorf("the limit parameter's constraints are missing")
	}
}

func TestCode(t *testing.T) {
	for in, want := range map[string]string{
		"plain":                 "plain",
		"`active` false <b>":    "<code>active</code> false &lt;b&gt;",
		"a `b` c `d":            "a <code>b</code> c `d",
		"`<script>`":            "<code>&lt;script&gt;</code>",
		"Bearer <token>`: tk_…": "Bearer &lt;token&gt;`: tk_…",
	} {
		if got := string(code(in)); got != want {
			t.Errorf("code(%q) = %q, want %q", in, got, want)
		}
	}
}
