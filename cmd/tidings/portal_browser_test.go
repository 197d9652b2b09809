package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	neturl "net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/tidingshq/tidings/redistest"
)

// newBrowser starts a headless Chromium for a test and returns a context
// for its first tab.
func newBrowser(t *testing.T, bin string, width, height int) context.Context {
	t.Helper()
	// Chromium may still be writing its profile as it exits, so the profile
	// folder is removed without failing the test.
	profile, err := os.MkdirTemp("", "tidings-chromium")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(profile) })
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(profile), chromedp.WindowSize(width, height))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// screenshotPath is where a picture of the portal goes: docs/ with
// -update-screenshot, else the test's temporary folder.
func screenshotPath(t *testing.T, name string) string {
	if *updateScreenshot {
		return filepath.Join("..", "..", "docs", name)
	}
	return filepath.Join(t.TempDir(), name)
}

// tab is one browser tab on the portal, recording every request it makes
// and every script error or CSP refusal.
type tab struct {
	t    *testing.T
	ctx  context.Context
	mu   sync.Mutex
	reqs []string // "METHOD URL"
	errs []string
}

func openTab(t *testing.T, browser context.Context) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	tb := &tab{t: t, ctx: ctx}
	chromedp.ListenTarget(ctx, func(ev any) {
		tb.mu.Lock()
		defer tb.mu.Unlock()
		switch e := ev.(type) {
		case *network.EventRequestWillBeSent:
			tb.reqs = append(tb.reqs, e.Request.Method+" "+e.Request.URL)
		case *runtime.EventExceptionThrown:
			tb.errs = append(tb.errs, "exception: "+e.ExceptionDetails.Error())
		case *cdplog.EventEntryAdded:
			if e.Entry.Source != cdplog.SourceNetwork && e.Entry.Level == cdplog.LevelError {
				tb.errs = append(tb.errs, "log: "+e.Entry.Text)
			}
		}
	})
	// The first Run opens the tab and binds it to its context: it must be
	// the tab's own context, not a shorter one, or the tab closes with it.
	if err := chromedp.Run(ctx, network.Enable(), runtime.Enable(), cdplog.Enable()); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	return tb
}

func (tb *tab) run(what string, actions ...chromedp.Action) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Run(ctx, actions...); err != nil {
		var text string
		_ = chromedp.Run(tb.ctx, chromedp.Evaluate(`document.body ? document.body.innerText : ""`, &text))
		tb.t.Fatalf("%s: %v\npage text:\n%.3000s", what, err, text)
	}
}

// waitText waits until the page's main text (or the notices) contains s.
func (tb *tab) waitText(s string) {
	tb.t.Helper()
	tb.run("wait for "+s, chromedp.Poll(fmt.Sprintf(`document.body.innerText.includes(%q)`, s), nil, chromedp.WithPollingTimeout(25*time.Second)))
}

// waitJS waits until a script expression is true.
func (tb *tab) waitJS(what, expr string) {
	tb.t.Helper()
	tb.run(what, chromedp.Poll(expr, nil, chromedp.WithPollingTimeout(25*time.Second)))
}

// click clicks a button or link by its exact text, as a user would. A
// list that refreshes itself (a pending delivery's) may replace the node
// between finding and clicking it: then it finds it again.
func (tb *tab) click(text string) {
	tb.t.Helper()
	sel := fmt.Sprintf(`//*[self::button or self::a][normalize-space(.)=%q]`, text)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
		err := chromedp.Run(ctx, chromedp.WaitVisible(sel), chromedp.Click(sel))
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.run("click "+text, chromedp.WaitVisible(sel), chromedp.Click(sel)) // fails with the page's text
			return
		}
	}
}

func (tb *tab) eval(expr string, out any) {
	tb.t.Helper()
	tb.run("evaluate "+expr, chromedp.Evaluate(expr, out))
}

func (tb *tab) text() string {
	var s string
	tb.eval(`document.querySelector("main").innerText`, &s)
	return s
}

func (tb *tab) screenshot(name string) {
	tb.t.Helper()
	var png []byte
	tb.run("screenshot "+name, chromedp.Sleep(300*time.Millisecond), chromedp.FullScreenshot(&png, 100))
	if err := os.WriteFile(screenshotPath(tb.t, name), png, 0o644); err != nil {
		tb.t.Fatal(err)
	}
}

// portalRouteCaps is the contract's table: each /v1 route a portal page may
// call and the capabilities it needs.
var portalRouteCaps = []struct {
	method string
	path   *regexp.Regexp
	caps   []string
}{
	{"GET", regexp.MustCompile(`^/v1/portal/session$`), nil},
	{"GET", regexp.MustCompile(`^/v1/webhooks$`), []string{"endpoints:read"}},
	{"GET", regexp.MustCompile(`^/v1/webhooks/[^/]+$`), []string{"endpoints:read"}},
	{"GET", regexp.MustCompile(`^/v1/webhooks/[^/]+/stats$`), []string{"endpoints:read"}},
	{"GET", regexp.MustCompile(`^/v1/event-types$`), []string{"endpoints:read"}},
	{"POST", regexp.MustCompile(`^/v1/webhooks$`), []string{"endpoints:write"}},
	{"PATCH|PUT|DELETE", regexp.MustCompile(`^/v1/webhooks/[^/]+$`), []string{"endpoints:write"}},
	{"POST", regexp.MustCompile(`^/v1/webhooks/[^/]+/(enable|test)$`), []string{"endpoints:write"}},
	{"POST", regexp.MustCompile(`^/v1/webhooks/[^/]+/rotate-secret$`), []string{"endpoints:write", "secrets:read"}},
	{"GET", regexp.MustCompile(`^/v1/webhooks/[^/]+/secret$`), []string{"secrets:read"}},
	{"GET", regexp.MustCompile(`^/v1/webhooks/[^/]+/deliveries$`), []string{"deliveries:read"}},
	{"GET", regexp.MustCompile(`^/v1/(deliveries|events)/[^/]+$`), []string{"deliveries:read"}},
	{"GET", regexp.MustCompile(`^/v1/events$`), []string{"deliveries:read"}},
	{"POST", regexp.MustCompile(`^/v1/deliveries/[^/]+/retry$`), []string{"deliveries:write"}},
	{"POST", regexp.MustCompile(`^/v1/webhooks/[^/]+/recover$`), []string{"deliveries:write"}},
}

// checkRequests fails on any request to another host, any /v1 call outside
// the token's capabilities, any portal URL outside /portal/, and any script
// error or CSP refusal.
func (tb *tab) checkRequests(base string, caps ...string) {
	tb.t.Helper()
	has := map[string]bool{}
	for _, c := range caps {
		has[c] = true
	}
	b, _ := neturl.Parse(base)
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if len(tb.reqs) == 0 {
		tb.t.Error("no request recorded")
	}
	for _, r := range tb.reqs {
		method, raw, _ := strings.Cut(r, " ")
		u, err := neturl.Parse(raw)
		if err == nil && u.Scheme == "data" {
			continue // Chromium's own inline pictures (the date picker's icon): no request
		}
		if err != nil || u.Host != b.Host || u.Scheme != b.Scheme {
			tb.t.Errorf("request to another origin: %s", r)
			continue
		}
		if !strings.HasPrefix(u.Path, "/v1/") {
			if !strings.HasPrefix(u.Path, "/portal/") {
				tb.t.Errorf("request outside the portal and the API: %s", r)
			}
			continue
		}
		allowed := false
		for _, rt := range portalRouteCaps {
			if !rt.path.MatchString(u.Path) || !regexp.MustCompile(`^(`+rt.method+`)$`).MatchString(method) {
				continue
			}
			allowed = true
			for _, c := range rt.caps {
				allowed = allowed && has[c]
			}
		}
		if !allowed {
			tb.t.Errorf("request outside the token's capabilities %v: %s", caps, r)
		}
	}
	for _, e := range tb.errs {
		tb.t.Errorf("browser error: %s", e)
	}
}

// Markup a publisher or receiver controls; if the portal ever parsed it,
// the page would set window.__pwned or load an image.
const (
	markupData = `<img src=x onerror="window.__pwned=1">`
	markupBody = `<script>window.__pwned=2</script><b>bold</b>`
	// markupShown is how the payload shows markupData: as JSON text.
	markupShown = `"note": "<img src=x onerror=\"window.__pwned=1\">"`
)

// noMarkupRan asserts that the markup shown as text ran nothing.
func (tb *tab) noMarkupRan() {
	tb.t.Helper()
	var res struct {
		Pwned  bool `json:"pwned"`
		Images int  `json:"images"`
		Bold   int  `json:"bold"`
	}
	tb.eval(`({pwned: window.__pwned !== undefined, images: document.querySelectorAll("main img").length, bold: document.querySelectorAll("main b, main script").length})`, &res)
	if res.Pwned || res.Images > 0 || res.Bold > 0 {
		tb.t.Errorf("markup from the API became elements or ran: %+v", res)
	}
}

// The portal in a real browser: a minted link opens it; an endpoint added
// there gets a published event that fails until its ladder is exhausted
// and the endpoint disabled; the portal shows why, re-enables it, retries
// the delivery once the receiver recovers and sees it succeed; it reveals
// and rotates the secret, sends a test event, recovers what a pause missed.
// Markup in payloads and response bodies shows as text. A read-only link
// shows no write control; expired and revoked links show their page. No
// page ever calls another host or a route outside its token.
func TestPortalInBrowser(t *testing.T) {
	bin := chromium(t)
	redisURL, rdb := redistest.New(t)
	in := startCmd(t, "all", testEnv(redisURL, map[string]string{"TIDINGS_RETRY_SCHEDULE": "1s",
		"TIDINGS_EVENT_TYPES": "order.created An order was placed,order.refunded A refund was issued,invoice.paid An invoice was paid"}))
	tenantID, key := in.tenant("acme")
	var succeed atomic.Bool
	rc := newReceiver(t, func(_ int, w http.ResponseWriter) {
		if succeed.Load() {
			w.WriteHeader(200)
			return
		}
		w.WriteHeader(500)
		_, _ = w.Write([]byte(markupBody))
	})
	browser := newBrowser(t, bin, 1280, 900)
	all := []string{"endpoints:read", "endpoints:write", "secrets:read", "deliveries:read", "deliveries:write"}

	t.Run("manage", func(t *testing.T) {
		link := in.must(201, "POST", "/v1/portal/sessions", key, nil).str("url")
		tb := openTab(t, browser)
		tb.run("open the link", chromedp.Navigate(link))
		tb.waitText("No endpoints yet.")
		var href string
		tb.eval(`location.href`, &href)
		if strings.Contains(href, "token") {
			t.Errorf("the token is still in the address bar: %s", href)
		}

		// Add an endpoint pointing at the failing receiver.
		tb.click("Add endpoint")
		tb.waitText("Endpoint URL")
		tb.run("fill the form",
			chromedp.SendKeys(`input[name=url]`, rc.URL+"/hook"),
			chromedp.SendKeys(`input[name=description]`, "Orders <b>in</b>"),
			chromedp.Click(`input[name=event-pick][value="order.created"]`, chromedp.ByQuery),
			chromedp.SendKeys(`input[name=events]`, "order.*"))
		tb.click("Add a header")
		tb.run("fill a header", chromedp.SendKeys(`.header-name`, "X-Team"), chromedp.SendKeys(`.header-value`, "billing"))
		tb.screenshot("portal-form.png")
		tb.click("Add endpoint")
		tb.waitText("Signing secret")
		whs := in.must(200, "GET", "/v1/webhooks", key, nil).list()
		if len(whs) != 1 || whs[0]["description"] != "Orders <b>in</b>" || whs[0]["headers"].(map[string]any)["X-Team"] != "billing" ||
			fmt.Sprint(whs[0]["events"]) != "[order.created order.*]" {
			t.Fatalf("webhooks after the form: %v", whs)
		}
		whID := whs[0]["id"].(string)

		// A bad edit shows the API's words next to the field.
		tb.click("Edit")
		tb.waitText("Save changes")
		tb.run("break the URL", chromedp.SetValue(`input[name=url]`, "not a url"))
		tb.click("Save changes")
		tb.waitText("the request has invalid fields")
		tb.waitJS("the URL field's reason", `document.querySelector("input[name=url]").getAttribute("aria-invalid") === "true"`)
		tb.click("Cancel")
		tb.waitText("Signing secret")

		// Publish through the API; the delivery fails, the ladder ends, the
		// endpoint is disabled.
		ev := publish(in, key, "order.created", map[string]any{"note": markupData, "n": 1})
		dlvID := ev.get("deliveries").([]any)[0].(map[string]any)["id"].(string)
		tb.click("Refresh")
		tb.waitJS("the delivery to fail", fmt.Sprintf(`!!document.querySelector('tr[data-id=%q] .badge-failed')`, dlvID))
		tb.click(dlvID)
		tb.waitText("Attempt 2")
		tb.run("open the response bodies", chromedp.Evaluate(`document.querySelectorAll("details").forEach(d => d.open = true)`, nil))
		tb.waitText(markupBody)
		tb.waitText(markupShown)
		tb.noMarkupRan()
		tb.screenshot("portal-delivery.png")

		tb.click("Endpoints")
		tb.waitText("disabled because its deliveries kept failing")
		tb.noMarkupRan()
		tb.click("Re-enable")
		tb.waitText("Re-enabled")
		tb.waitJS("the endpoint to be active", `!!document.querySelector("article .badge-active")`)
		if st := in.must(200, "GET", "/v1/webhooks/"+whID, key, nil).str("status"); st != "active" {
			t.Fatalf("status after re-enabling = %s", st)
		}

		// The receiver recovers; retry from the delivery's page.
		succeed.Store(true)
		tb.run("open the delivery", chromedp.Navigate(in.base+"/portal/#/deliveries/"+dlvID))
		tb.click("Retry this delivery")
		tb.waitJS("the retried delivery to succeed", `!!document.querySelector(".delivery-status .badge-succeeded")`)
		tb.waitText("Attempt 3")

		// The secret: reveal, then rotate.
		tb.run("open the endpoint", chromedp.Navigate(in.base+"/portal/#/endpoints/"+whID))
		tb.click("Reveal secret")
		var shown string
		tb.run("read the secret", chromedp.WaitVisible(`.secret-value`), chromedp.Text(`.secret-value`, &shown))
		if api := in.must(200, "GET", "/v1/webhooks/"+whID+"/secret", key, nil).str("secret"); shown != api || !strings.HasPrefix(shown, "whsec_") {
			t.Errorf("revealed %q, the API says %q", shown, api)
		}
		tb.click("Rotate secret")
		tb.waitText("Secret rotated")
		var rotated string
		tb.run("read the new secret", chromedp.Text(`.secret-value`, &rotated))
		if api := in.must(200, "GET", "/v1/webhooks/"+whID+"/secret", key, nil).str("secret"); rotated == shown || rotated != api {
			t.Errorf("after rotating: shown %q (was %q), the API says %q", rotated, shown, api)
		}

		// A test event arrives.
		before := rc.count()
		tb.click("Send a test event")
		tb.waitJS("the test delivery to succeed", `!!document.querySelector(".test-status .badge-succeeded")`)
		if rc.count() <= before {
			t.Errorf("the receiver got no test event")
		}

		// Pause, miss an event, resume, recover it.
		tb.click("Pause")
		tb.waitText("Paused")
		tb.waitJS("the paused badge", `!!document.querySelector(".badge-paused")`)
		missed := publish(in, key, "order.created", map[string]any{"n": 2})
		if n := len(missed.get("deliveries").([]any)); n != 0 {
			t.Fatalf("a paused endpoint got %d deliveries", n)
		}
		tb.click("Resume")
		tb.waitJS("the active badge", `!!document.querySelector(".badge-active")`)
		tb.click("Recover")
		tb.waitText("Recovery queued 1 delivery.")
		eventually(t, 15*time.Second, "the recovered event to arrive", func() bool {
			for _, r := range rc.requests() {
				if strings.Contains(string(r.Body), missed.str("id")) {
					return true
				}
			}
			return false
		})
		tb.click("24 hours")
		tb.waitJS("the attempts chart", `document.querySelectorAll("figure svg .bar").length === 24`)
		tb.click("7 days")
		tb.waitJS("the week's chart", `document.querySelectorAll("figure svg .bar").length === 168`)
		tb.click("24 hours")
		tb.waitJS("the day's chart", `document.querySelectorAll("figure svg .bar").length === 24`)
		tb.screenshot("portal-endpoint.png")

		tb.click("Endpoints")
		tb.waitJS("the sparkline", `!!document.querySelector("article svg.chart-small")`)
		tb.screenshot("portal-endpoints.png")

		tb.click("Event types")
		tb.waitText("A refund was issued")

		// Delete after a confirmation.
		tb.click("Endpoints")
		tb.click("Delete…")
		tb.click("Cancel")
		in.must(200, "GET", "/v1/webhooks/"+whID, key, nil)
		tb.click("Delete…")
		tb.click("Yes, delete it")
		tb.waitText("No endpoints yet.")
		in.must(404, "GET", "/v1/webhooks/"+whID, key, nil)
		tb.checkRequests(in.base, all...)
	})

	t.Run("read-only", func(t *testing.T) {
		succeed.Store(true)
		whID, _ := in.webhook(key, rc.URL+"/ro", "order.*")
		ev := publish(in, key, "order.created", map[string]any{"note": markupData})
		dlvID := ev.get("deliveries").([]any)[0].(map[string]any)["id"].(string)
		in.waitDelivery(key, dlvID, "succeeded", 15*time.Second)
		link := in.must(201, "POST", "/v1/portal/sessions", key, map[string]any{"capabilities": []string{"endpoints:read", "deliveries:read"}}).str("url")
		tb := openTab(t, browser)
		tb.run("open the link", chromedp.Navigate(link))
		tb.waitJS("the endpoint", fmt.Sprintf(`!!document.querySelector('article[data-id=%q]')`, whID))
		writes := `[...document.querySelectorAll("main button, main a.button, main form")].map(e => e.innerText.trim()).filter(t => /Add|Edit|Pause|Resume|Re-enable|Delete|Reveal|Rotate|Send|Recover|Retry/.test(t))`
		var found []string
		tb.eval(writes, &found)
		if len(found) > 0 {
			t.Errorf("a read-only link shows write controls on the list: %v", found)
		}
		tb.click(rc.URL + "/ro")
		tb.waitJS("the deliveries", fmt.Sprintf(`!!document.querySelector('tr[data-id=%q]')`, dlvID))
		tb.eval(writes, &found)
		if len(found) > 0 {
			t.Errorf("a read-only link shows write controls on the endpoint: %v", found)
		}
		tb.click(dlvID)
		tb.waitText("Attempt 1")
		tb.waitText(markupShown)
		tb.noMarkupRan()
		tb.eval(writes, &found)
		if len(found) > 0 {
			t.Errorf("a read-only link shows write controls on the delivery: %v", found)
		}
		tb.run("open the form anyway", chromedp.Navigate(in.base+"/portal/#/new"))
		tb.waitText("This link does not allow changing endpoints.")
		tb.checkRequests(in.base, "endpoints:read", "deliveries:read")
	})

	t.Run("dead links", func(t *testing.T) {
		r := in.must(201, "POST", "/v1/portal/sessions", key, nil)
		revoked := r.str("url")
		in.must(204, "DELETE", "/v1/portal/sessions/"+r.str("id"), key, nil)
		r = in.must(201, "POST", "/v1/portal/sessions", key, map[string]any{"expires_in": 60})
		expired := r.str("url")
		sum := sha256.Sum256([]byte(r.str("token")))
		k := "tidings:{" + tenantID + "}:ptok:" + hex.EncodeToString(sum[:])
		if !rdb.PExpire(context.Background(), k, time.Millisecond).Val() {
			t.Fatalf("no token record at %s", k)
		}
		eventually(t, 5*time.Second, "the token to expire", func() bool { return rdb.Exists(context.Background(), k).Val() == 0 })
		for name, link := range map[string]string{"revoked": revoked, "expired": expired, "garbage": in.base + "/portal/#token=pt_nonsense"} {
			tb := openTab(t, browser)
			tb.run("open the "+name+" link", chromedp.Navigate(link))
			tb.waitText("This link is invalid, expired or revoked")
			if name == "expired" {
				tb.screenshot("portal-expired.png")
			}
			tb.checkRequests(in.base)
		}
		tb := openTab(t, browser)
		tb.run("open the portal without a link", chromedp.Navigate(in.base+"/portal/"))
		tb.waitText("No dashboard link")
	})

	// The same pages at phone width stay within the screen, and follow the
	// system's dark setting.
	t.Run("phone", func(t *testing.T) {
		in.webhook(key, rc.URL+"/a-rather-long-path/that/goes/on/and/on/for/a/while", "order.*")
		link := in.must(201, "POST", "/v1/portal/sessions", key, nil).str("url")
		tb := openTab(t, browser)
		tb.run("phone width, dark", chromedp.EmulateViewport(390, 844),
			emulation.SetEmulatedMedia().WithFeatures([]*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}),
			chromedp.Navigate(link))
		tb.waitJS("the endpoints", `document.querySelectorAll("article.endpoint").length >= 1`)
		var overflow bool
		tb.eval(`document.documentElement.scrollWidth > window.innerWidth + 1`, &overflow)
		if overflow {
			t.Errorf("the endpoints page is wider than a phone")
		}
		var bg string
		tb.eval(`getComputedStyle(document.body).backgroundColor`, &bg)
		if bg != "rgb(17, 20, 24)" {
			t.Errorf("dark mode background = %s", bg)
		}
		tb.screenshot("portal-phone.png")
		tb.checkRequests(in.base, all...)
	})
}
