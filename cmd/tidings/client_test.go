package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tidingshq/tidings/client"
)

// checkedTransport validates every answer against openapi.yaml, as the
// harness's call does.
type checkedTransport struct{ t *testing.T }

func (ct checkedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	checkResponse(ct.t, req, resp.StatusCode, resp.Header, body)
	return resp, nil
}

// newClient is the generated client against the instance, sending token.
func newClient(t *testing.T, in *instance, token string) *client.ClientWithResponses {
	t.Helper()
	c, err := client.NewClientWithResponses(in.base,
		client.WithHTTPClient(&http.Client{Transport: checkedTransport{t}}),
		client.WithRequestEditorFn(func(_ context.Context, r *http.Request) error {
			r.Header.Set("Authorization", "Bearer "+token)
			return nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The main flow through the client generated from the spec (client/):
// create a webhook, publish with an Idempotency-Key, replay it, read the
// delivery log; a refused connection shows no response time.
func TestGeneratedClient(t *testing.T) {
	in := start(t, nil)
	ctx := context.Background()
	rc := newReceiver(t, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + ln.Addr().String() + "/hook"
	ln.Close()

	tr, err := newClient(t, in, adminToken).CreateTenantWithResponse(ctx, client.TenantRequest{Name: "acme"})
	if err != nil || tr.JSON201 == nil {
		t.Fatalf("create tenant: %v %d %s", err, tr.StatusCode(), tr.Body)
	}
	c := newClient(t, in, tr.JSON201.ApiKey)

	wr, err := c.CreateWebhookWithResponse(ctx, nil, client.WebhookRequest{Url: rc.URL + "/hook", Events: []string{"order.*"}})
	if err != nil || wr.JSON201 == nil {
		t.Fatalf("create webhook: %v %d %s", err, wr.StatusCode(), wr.Body)
	}
	if wr.JSON201.Secret == nil || !strings.HasPrefix(*wr.JSON201.Secret, "whsec_") {
		t.Errorf("secret %v, want whsec_… (a tenant key gets it)", wr.JSON201.Secret)
	}
	hook := wr.JSON201.Id
	dead, err := c.CreateWebhookWithResponse(ctx, nil, client.WebhookRequest{Url: refused, Events: []string{"order.paid"}})
	if err != nil || dead.JSON201 == nil {
		t.Fatalf("create webhook: %v %d %s", err, dead.StatusCode(), dead.Body)
	}

	key := "order-42"
	event := client.EventRequest{Type: "order.paid", Data: map[string]any{"order": 42}}
	pr, err := c.PublishEventWithResponse(ctx, &client.PublishEventParams{IdempotencyKey: &key}, event)
	if err != nil || pr.JSON202 == nil {
		t.Fatalf("publish: %v %d %s", err, pr.StatusCode(), pr.Body)
	}
	if len(pr.JSON202.Deliveries) != 2 {
		t.Fatalf("deliveries %+v, want one per webhook", pr.JSON202.Deliveries)
	}
	again, err := c.PublishEventWithResponse(ctx, &client.PublishEventParams{IdempotencyKey: &key}, event)
	if err != nil || again.JSON202 == nil || again.JSON202.Id != pr.JSON202.Id ||
		again.HTTPResponse.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %v %d %s, want the first answer replayed", err, again.StatusCode(), again.Body)
	}

	byHook := map[string]string{}
	for _, d := range pr.JSON202.Deliveries {
		byHook[d.WebhookId] = d.Id
	}
	var got *client.DeliveryDetail
	eventually(t, 15*time.Second, "the delivery to succeed", func() bool {
		r, err := c.GetDeliveryWithResponse(ctx, byHook[hook], nil)
		if err != nil || r.JSON200 == nil {
			t.Fatalf("get delivery: %v %d %s", err, r.StatusCode(), r.Body)
		}
		got = r.JSON200
		return got.Status == client.DeliveryStatusSucceeded
	})
	if len(got.Attempts) != 1 || got.Attempts[0].ResponseStatus == nil || *got.Attempts[0].ResponseStatus != 200 ||
		got.Attempts[0].ErrorClass != nil || got.LastResponseTimeMs == nil {
		t.Errorf("delivery %+v: want one attempt answered 200 with a response time", got)
	}
	if rc.count() != 1 {
		t.Errorf("receiver got %d requests, want 1 (the replay creates nothing)", rc.count())
	}

	eventually(t, 15*time.Second, "the refused attempt to be recorded", func() bool {
		r, err := c.GetDeliveryWithResponse(ctx, byHook[dead.JSON201.Id], nil)
		if err != nil || r.JSON200 == nil {
			t.Fatalf("get delivery: %v %d %s", err, r.StatusCode(), r.Body)
		}
		got = r.JSON200
		return got.Attempt >= 1
	})
	if got.LastResponseStatus != nil || got.LastResponseTimeMs != nil || got.LastError == nil ||
		got.Attempts[0].ErrorClass == nil || *got.Attempts[0].ErrorClass != client.ConnectionRefused {
		t.Errorf("refused delivery %+v: want no response status or time, a connection_refused error", got)
	}

	lr, err := c.ListWebhookDeliveriesWithResponse(ctx, hook, nil)
	if err != nil || lr.JSON200 == nil {
		t.Fatalf("list deliveries: %v %d %s", err, lr.StatusCode(), lr.Body)
	}
	if len(lr.JSON200.Data) != 1 || lr.JSON200.Data[0].Id != byHook[hook] || lr.JSON200.Data[0].Status != client.DeliveryStatusSucceeded {
		t.Errorf("delivery log %+v, want the one succeeded delivery", lr.JSON200.Data)
	}

	// PATCH's null (reset a field) is sent as a raw body: the generated
	// struct leaves nil fields out.
	desc := "orders"
	if r, err := c.UpdateWebhookWithResponse(ctx, hook, nil, client.WebhookPatch{Description: &desc}); err != nil ||
		r.JSON200 == nil || r.JSON200.Description != "orders" {
		t.Fatalf("patch: %v %+v", err, r)
	}
	r, err := c.UpdateWebhookWithBodyWithResponse(ctx, hook, nil, "application/json", strings.NewReader(`{"description":null}`))
	if err != nil || r.JSON200 == nil || r.JSON200.Description != "" {
		t.Fatalf("patch with null: %v %d %s, want the description reset", err, r.StatusCode(), r.Body)
	}

	spec, err := c.GetOpenAPIWithResponse(ctx)
	if err != nil || spec.YAML200 == nil || (*spec.YAML200)["openapi"] != "3.0.3" {
		t.Fatalf("openapi.yaml through the client: %v %d", err, spec.StatusCode())
	}
}

// GET /docs is the reference page, served by the binary with a policy that
// lets it load nothing.
func TestDocsPage(t *testing.T) {
	in := start(t, map[string]string{"TIDINGS_MONITORING": "false"})
	r := in.must(200, "GET", "/docs", "", nil)
	if ct := r.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if csp := r.Header.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	for _, want := range []string{`id="op-publishEvent"`, `id="op-getDocs"`, `id="schema-Delivery"`} {
		if !strings.Contains(string(r.Raw), want) {
			t.Errorf("the page lacks %s", want)
		}
	}
}
