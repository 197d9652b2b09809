// Package webhook is Tidings' domain: tenants, webhooks, events,
// deliveries and their attempts, the retry Schedule, event-type filter
// matching, identifiers and the domain errors every layer speaks.
//
// One word for each thing, in the code as in the API:
//
//   - A webhook is a tenant's subscription: a URL, the event types it
//     wants, its secret and settings. The API says webhooks (/v1/webhooks,
//     IDs wh_, webhook_id), and so does the code: the type Webhook, its
//     WebhookID, the store's CreateWebhook and AllWebhooks, the keys
//     tidings:{ten}:wh:<id>.
//   - An endpoint is only the receiving side of a webhook: its URL and the
//     server behind it. The code says endpoint where the contract does,
//     for limits on that server: TIDINGS_ENDPOINT_CONCURRENCY (the
//     Settings' EndpointConcurrency), tidings_endpoint_waits_total, and the
//     portal's endpoints:read and endpoints:write capabilities.
//   - A delivery is one event sent to one webhook, over as many attempts
//     as the ladder allows; an attempt is one HTTP request of it.
//
// It depends on the standard library only; storage, transport and HTTP live in
// their own packages and point here.
package webhook
