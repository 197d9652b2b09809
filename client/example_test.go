package client_test

import (
	"context"
	"fmt"
	"log"
	"net/http"

	"github.com/tidingshq/tidings/client"
)

// A platform publishes an event (the README's snippet; compiled, not run).
func Example() {
	ctx, apiKey := context.Background(), "tk_…"
	publish := func() error {
		c, err := client.NewClientWithResponses("https://tidings.internal:8080",
			client.WithRequestEditorFn(func(_ context.Context, r *http.Request) error {
				r.Header.Set("Authorization", "Bearer "+apiKey) // the tenant's tk_… key
				return nil
			}))
		if err != nil {
			return err
		}
		key := "order-42-paid" // same key, same body: replayed, never published twice
		res, err := c.PublishEventWithResponse(ctx, &client.PublishEventParams{IdempotencyKey: &key},
			client.EventRequest{Type: "order.paid", Data: map[string]any{"order": 42, "amount": 1999}})
		if err != nil {
			return err // the request did not complete: retry with the same key
		}
		if res.JSON202 == nil {
			return fmt.Errorf("tidings answered %d: %s", res.StatusCode(), res.Body)
		}
		log.Printf("event %s: %d deliveries", res.JSON202.Id, len(res.JSON202.Deliveries))
		return nil
	}
	_ = publish
}
