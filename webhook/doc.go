// Package webhook is Tidings' domain: tenants, endpoints (webhooks), events,
// deliveries and their attempts, the retry Schedule, event-type filter
// matching, identifiers and the domain errors every layer speaks.
//
// It depends on the standard library only; storage, transport and HTTP live in
// their own packages and point here.
package webhook
