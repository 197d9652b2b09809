// Package asynqmon mounts the Asynqmon queue dashboard inside Tidings' API
// at /monitoring. Authentication is the router's (basic auth with the admin
// token); this package builds the handler on the process's shared Redis
// client and shows delivery tasks by their IDs (their payloads hold no
// secrets or bodies anyway).
package asynqmon

import (
	"fmt"
	"net/http"

	mon "github.com/hibiken/asynqmon"
	"github.com/redis/go-redis/v9"

	"github.com/tidingshq/tidings/tasks"
)

// RootPath is where the dashboard is mounted. Asynqmon routes on the full,
// unstripped path, so the router must pass requests on unchanged.
const RootPath = "/monitoring"

// sharedConn hands Asynqmon the process's client instead of letting it open
// two pools of its own. The handler's Close must then never be called: it
// would close the shared client.
type sharedConn struct{ c redis.UniversalClient }

func (s sharedConn) MakeRedisClient() any { return s.c }

// Options configure the dashboard.
type Options struct {
	ReadOnly      bool
	PrometheusURL string
}

// New returns the dashboard handler.
func New(rc redis.UniversalClient, opts Options) http.Handler {
	return mon.New(mon.Options{
		RootPath:          RootPath,
		RedisConnOpt:      sharedConn{rc},
		ReadOnly:          opts.ReadOnly,
		PrometheusAddress: opts.PrometheusURL,
		PayloadFormatter:  mon.PayloadFormatterFunc(FormatPayload),
		ResultFormatter:   mon.ResultFormatterFunc(func(string, []byte) string { return "" }),
	})
}

// FormatPayload shows a delivery task as its delivery, webhook and event.
func FormatPayload(taskType string, payload []byte) string {
	if taskType != tasks.TypeDeliver {
		return fmt.Sprintf("%d bytes", len(payload))
	}
	p, err := tasks.ParsePayload(payload)
	if err != nil {
		return "unreadable payload"
	}
	return fmt.Sprintf("delivery %s → webhook %s (event %s)", p.DeliveryID, p.WebhookID, p.EventID)
}
