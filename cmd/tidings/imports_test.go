package main

import (
	"encoding/json"
	"io"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/tidingshq/tidings"

// importRule says which packages of the module a package may import, and
// whether it may import anything outside the standard library.
type importRule struct {
	allowed    []string
	stdlibOnly bool
}

// importRules is the one-way direction of imports (STYLE, "The shape of the
// house"), as the code stands today. Packages under cmd/ may import
// anything. A package missing from this table fails the test: add its rule.
var importRules = map[string]importRule{
	"webhook":    {stdlibOnly: true},
	"signing":    {stdlibOnly: true},
	"config":     {allowed: []string{"webhook"}, stdlibOnly: true}, // to parse the ladder and event types at load time
	"sender":     {allowed: []string{"signing", "webhook"}},
	"redisstore": {allowed: []string{"webhook"}},
	"tasks":      {allowed: []string{"webhook"}},
	"handlers":   {allowed: []string{"tasks", "webhook"}}, // the store through small interfaces of its own (store.go)
	"metrics":    {allowed: []string{"webhook"}},          // Prometheus collectors, labelled with webhook's outcomes
	"asynqmon":   {allowed: []string{"tasks"}},            // the dashboard formats tasks' payloads
	"portal":     {allowed: []string{"webhook"}},          // its pages and assets; it talks to the API over HTTP
	"docs":       {},                                      // the embedded spec and its HTML rendering
	"client":     {},                                      // generated from the spec: the API's outside only
	"redistest":  {},                                      // test helper: starts Redis servers
}

type listedPackage struct {
	ImportPath string
	Imports    []string
}

// goList lists the module's packages with their direct (non-test) imports.
func goList(t *testing.T) []listedPackage {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", module+"/...")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	var pkgs []listedPackage
	for {
		var p listedPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// isStdlib reports whether an import path is the standard library's: its
// first element has no dot.
func isStdlib(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

// Every import follows importRules.
func TestImportRules(t *testing.T) {
	pkgs := goList(t)
	if len(pkgs) < 10 {
		t.Fatalf("go list found %d packages", len(pkgs))
	}
	for _, p := range pkgs {
		name := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		if strings.HasPrefix(name, "cmd/") {
			continue
		}
		rule, ok := importRules[name]
		if !ok {
			t.Errorf("package %s has no import rule: add one to importRules", name)
			continue
		}
		var bad []string
		for _, imp := range p.Imports {
			switch {
			case strings.HasPrefix(imp, module+"/"):
				if own := strings.TrimPrefix(imp, module+"/"); !slices.Contains(rule.allowed, own) {
					bad = append(bad, own)
				}
			case rule.stdlibOnly && !isStdlib(imp):
				bad = append(bad, imp)
			}
		}
		sort.Strings(bad)
		if len(bad) > 0 {
			t.Errorf("%s imports %s: the rule allows %v (standard library only: %v)", name, strings.Join(bad, ", "), rule.allowed, rule.stdlibOnly)
		}
	}
}
