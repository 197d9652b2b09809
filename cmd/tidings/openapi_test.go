package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/google/go-cmp/cmp"

	"github.com/tidingshq/tidings/docs"
	"github.com/tidingshq/tidings/handlers"
)

var (
	specOnce   sync.Once
	specRouter routers.Router
	specErr    error
)

// spec loads and validates docs/openapi.yaml once.
func spec(t testing.TB) routers.Router {
	t.Helper()
	specOnce.Do(func() {
		// /docs answers a page: checked as text, as kin-openapi does text/plain.
		openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.FileBodyDecoder)
		doc, err := openapi3.NewLoader().LoadFromData(docs.OpenAPI)
		if err != nil {
			specErr = err
			return
		}
		if err := doc.Validate(context.Background()); err != nil {
			specErr = err
			return
		}
		doc.Servers = nil // match any host
		specRouter, specErr = gorillamux.NewRouter(doc)
	})
	if specErr != nil {
		t.Fatalf("openapi.yaml: %v", specErr)
	}
	return specRouter
}

// The spec is valid OpenAPI 3.0 and documents exactly the router's routes.
func TestOpenAPIMatchesRouter(t *testing.T) {
	spec(t)
	doc, _ := openapi3.NewLoader().LoadFromData(docs.OpenAPI)
	var documented []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, method+" "+path)
		}
	}
	api := handlers.New(nil, nil, handlers.Options{Metrics: http.NotFoundHandler()}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	param := regexp.MustCompile(`:(\w+)`)
	var routed []string
	for _, r := range api.Router().Routes() {
		routed = append(routed, r.Method+" "+param.ReplaceAllString(r.Path, "{$1}"))
	}
	sort.Strings(documented)
	sort.Strings(routed)
	if diff := cmp.Diff(documented, routed); diff != "" {
		t.Errorf("spec (-) and router (+) differ:\n%s", diff)
	}
}

// checkResponse validates a real response against the spec; the harness
// calls it for every API answer of the end-to-end tests.
func checkResponse(t testing.TB, req *http.Request, status int, header http.Header, body []byte) {
	t.Helper()
	route, params, err := spec(t).FindRoute(req)
	if err != nil && status == http.StatusNotFound {
		return // a route that does not exist
	}
	if err != nil {
		t.Errorf("%s %s is not in openapi.yaml: %v", req.Method, req.URL.Path, err)
		return
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, ExcludeRequestBody: true}}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status, Header: header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true}}
	out.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		msg := err.Error()
		if i := strings.Index(msg, "\n"); i > 0 {
			msg = msg[:i]
		}
		t.Errorf("%s %s → %d does not match openapi.yaml: %s\n%s", req.Method, req.URL.Path, status, msg, bytes.TrimSpace(body))
	}
}

// docs/api.md documents exactly the spec's operations, each under a
// heading "### METHOD /path".
func TestAPIReferenceCoversSpec(t *testing.T) {
	spec(t)
	doc, _ := openapi3.NewLoader().LoadFromData(docs.OpenAPI)
	md, err := os.ReadFile("../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	headings := map[string]bool{}
	for _, line := range strings.Split(string(md), "\n") {
		if h, ok := strings.CutPrefix(line, "### "); ok {
			headings[strings.TrimSpace(h)] = true
		}
	}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			if !headings[method+" "+path] {
				t.Errorf("docs/api.md has no heading %q", "### "+method+" "+path)
			}
			delete(headings, method+" "+path)
		}
	}
	// And documents no operation the spec lacks.
	for h := range headings {
		if method, path, ok := strings.Cut(h, " "); ok && strings.HasPrefix(path, "/") && method == strings.ToUpper(method) {
			t.Errorf("docs/api.md documents %s, which openapi.yaml does not", h)
		}
	}
}
