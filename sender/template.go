package sender

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"text/template"
	"time"

	"github.com/tidingshq/tidings/webhook"
)

// ParseTemplate parses TIDINGS_PAYLOAD_TEMPLATE: a text/template over a
// message's fields (templateData) with the functions json, add and sub. It
// renders a sample message at once and refuses a template that fails or
// whose output is not JSON, so a bad one stops the process at start. ""
// is the default envelope: nil.
func ParseTemplate(text string) (*template.Template, error) {
	if text == "" {
		return nil, nil
	}
	t, err := template.New("payload").Funcs(templateFuncs()).Parse(text)
	if err != nil {
		return nil, fmt.Errorf("does not parse: %v", err)
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, templateData(sampleMessage())); err != nil {
		return nil, fmt.Errorf("does not render: %v", err)
	}
	if !json.Valid(buf.Bytes()) {
		return nil, fmt.Errorf("does not render valid JSON for a sample event: %.80s", buf.String())
	}
	return t, nil
}

// templateData is what a payload template sees of a message.
func templateData(m webhook.Message) map[string]any {
	return map[string]any{
		"EventID":    m.Event.ID,
		"Type":       m.Event.Type,
		"Timestamp":  webhook.FormatTime(m.Event.CreatedAt),
		"Unix":       m.Event.CreatedAt.Unix(),
		"Data":       m.Event.Data,
		"DeliveryID": m.Delivery.ID,
		"WebhookID":  m.Webhook.ID,
		"Attempt":    m.Attempt,
	}
}

// templateFuncs are the functions a payload template may call: json, and
// add and sub for integers (e.g. a zero-based retry count, {{sub .Attempt 1}}).
func templateFuncs() template.FuncMap {
	return template.FuncMap{
		"add": func(a, b int) int { return a + b },
		"sub": func(a, b int) int { return a - b },
		"json": func(v any) (string, error) {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(v); err != nil {
				return "", err
			}
			return strings.TrimRight(buf.String(), "\n"), nil
		},
	}
}

// sampleMessage is the message a template is tried on at start.
func sampleMessage() webhook.Message {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return webhook.Message{
		Event:    &webhook.Event{ID: "evt_01SAMPLE", Type: "sample.event", Data: json.RawMessage(`{"sample":true,"n":1}`), CreatedAt: at},
		Delivery: &webhook.Delivery{ID: "dlv_01SAMPLE"},
		Webhook:  &webhook.Webhook{ID: "wh_01SAMPLE"},
		Attempt:  1,
	}
}
