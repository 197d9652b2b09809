package main

import (
	"context"
	"encoding/base64"
	"flag"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/tidingshq/tidings/redistest"
)

var updateScreenshot = flag.Bool("update-screenshot", false, "write the screenshots in docs/ (dashboard.png, portal-*.png)")

// chromium finds the browser: skipped outside CI when it is absent, a
// failure in CI (scripts/test.sh installs Debian's chromium as root).
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if redistest.Required() {
		t.Fatal("chromium is required in CI (scripts/test.sh installs it)")
	}
	t.Skip("chromium not installed")
	return ""
}

// The dashboard, opened in a real headless browser with basic auth, shows
// Tidings' queue; the screenshot goes to docs/ for the README.
func TestDashboardInBrowser(t *testing.T) {
	bin := chromium(t)
	in := start(t, nil)
	_, key := in.tenant("acme")
	rc := newReceiver(t, status(503))
	in.webhook(key, rc.URL, "*")
	publishN(t, in, key, 3)
	eventually(t, 10*time.Second, "attempts", func() bool { return rc.count() >= 3 })

	ctx := newBrowser(t, bin, 1400, 900)
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()

	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:"+adminToken))
	var text string
	var png []byte
	err := chromedp.Run(ctx,
		network.Enable(),
		network.SetExtraHTTPHeaders(network.Headers{"Authorization": auth}),
		chromedp.Navigate(in.base+"/monitoring/"),
		chromedp.Poll(`document.body && document.body.innerText.includes("webhooks") && document.querySelector("table") !== null`, nil,
			chromedp.WithPollingTimeout(30*time.Second)),
		chromedp.Sleep(500*time.Millisecond), // let the charts settle for the picture
		chromedp.Evaluate(`document.body.innerText`, &text),
		chromedp.FullScreenshot(&png, 100),
	)
	if err != nil {
		t.Fatalf("dashboard in the browser: %v", err)
	}
	if !strings.Contains(text, "webhooks") {
		t.Errorf("the queues table does not show the webhooks queue:\n%.500s", text)
	}
	if err := os.WriteFile(screenshotPath(t, "dashboard.png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Read-only mode refuses the dashboard's write actions; without the admin
// password the dashboard is a 401.
func TestDashboardReadOnlyAndAuth(t *testing.T) {
	in := start(t, map[string]string{"TIDINGS_MONITORING_READONLY": "true"})
	do := func(method, path, user, pass string) int {
		req, _ := http.NewRequest(method, in.base+path, nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := do("GET", "/monitoring/api/queues", "admin", "wrong"); got != 401 {
		t.Errorf("wrong password = %d", got)
	}
	if got := do("GET", "/monitoring/api/queues", "admin", adminToken); got != 200 {
		t.Errorf("queues API = %d", got)
	}
	if got := do("POST", "/monitoring/api/queues/webhooks:pause", "admin", adminToken); got != 405 {
		t.Errorf("pause in read-only mode = %d, want 405", got)
	}
	if got := do("DELETE", "/monitoring/api/queues/webhooks", "admin", adminToken); got != 405 {
		t.Errorf("delete in read-only mode = %d, want 405", got)
	}
}
