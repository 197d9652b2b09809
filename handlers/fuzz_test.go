package handlers

import (
	"errors"
	"testing"

	"github.com/tidingshq/tidings/webhook"
)

// The request binders never panic, and every rejection is a client error
// (invalid_json or a field-level validation error), never an internal one.
func FuzzBinders(f *testing.F) {
	for _, s := range []string{`{"url":"https://x.example","events":["batch.*"]}`, `{"type":"a.b","data":{"k":[1,{}]},"id":"x"}`,
		`{"url":null,"rate_limit":"x"}`, `[]`, ``, `{"a":`, `{"headers":{"Host":"x"},"metadata":{"":""}}`, `{"events":[1]}`} {
		f.Add([]byte(s))
	}
	val := newValidation(&Options{SignatureHeader: "X-Webhook-Signature", TimestampHeader: "X-Webhook-Timestamp", DeliveryIDHeader: "X-Delivery-ID"})
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, dst := range []any{&webhookRequest{}, &eventRequest{}, &rotateRequest{}, &recoverRequest{}, &tenantRequest{}} {
			err := decode(body, dst, false)
			if err == nil {
				err = val.check(dst)
			}
			if err == nil {
				continue
			}
			var ae *apiError
			var ve *webhook.ValidationError
			if !errors.As(err, &ae) && !errors.As(err, &ve) {
				t.Fatalf("decode(%q) into %T: unclassified error %v", body, dst, err)
			}
		}
		var req webhookRequest
		if decode(body, &req, false) == nil {
			spec := webhookSpec{Active: true}
			_ = req.apply(&spec)
			_ = val.check(&spec)
		}
	})
}
