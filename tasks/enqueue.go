package tasks

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/tidingshq/tidings/webhook"
)

// AsynqLayout is the Asynq release whose task layout in Redis scriptEnqueue
// writes, as asynq.Client.Enqueue of that release does (its
// internal/rdb/rdb.go enqueueCmd and internal/base EncodeMessage).
// TestAsynqLayout fails when go.mod requires another release, and checks
// that Asynq's inspector and workers see these tasks as Enqueue's.
const AsynqLayout = "v0.26.0"

// scriptQueue is how the Queue writes tasks: many tasks of one queue in one
// round trip, where asynq.Client sends one script per task (and Asynq
// v0.26.0 has no batch enqueue).
type scriptQueue struct {
	rdb       redis.UniversalClient
	published sync.Map // queues added to asynq:queues by this process
}

// enqueueAll queues the tasks of deliveries: a script per delivery queue
// (a queue's keys share its slot), the queues' at once.
func (s *scriptQueue) enqueueAll(ctx context.Context, ds []*webhook.Delivery, settings Settings) error {
	byQueue := map[string][]*webhook.Delivery{}
	var queues []string
	for _, d := range ds {
		q := settings.QueueOf(d.WebhookID)
		if _, ok := byQueue[q]; !ok {
			queues = append(queues, q)
		}
		byQueue[q] = append(byQueue[q], d)
	}
	if len(queues) == 1 {
		return s.enqueue(ctx, queues[0], ds, settings)
	}
	errs := make([]error, len(queues))
	var wg sync.WaitGroup
	for i, q := range queues {
		wg.Go(func() { errs[i] = s.enqueue(ctx, q, byQueue[q], settings) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// enqueue queues the tasks of deliveries, all of one queue: those whose
// task exists already (TaskID conflict) count as queued, as with Enqueue.
func (s *scriptQueue) enqueue(ctx context.Context, queue string, ds []*webhook.Delivery, settings Settings) error {
	if _, ok := s.published.Load(queue); !ok {
		// As asynq's RDB.Enqueue: the inspector lists the queues of this set.
		if err := s.rdb.SAdd(ctx, "asynq:queues", queue).Err(); err != nil {
			return fmt.Errorf("tasks: enqueue: %w: %w", webhook.ErrUnavailable, err)
		}
		s.published.Store(queue, true)
	}
	prefix := "asynq:{" + queue + "}:"
	keys := make([]string, 0, len(ds)+1)
	args := make([]any, 0, 2*len(ds)+1)
	keys = append(keys, prefix+"pending")
	args = append(args, strconv.FormatInt(time.Now().UnixNano(), 10))
	for _, d := range ds {
		keys = append(keys, prefix+"t:"+d.ID)
		args = append(args, taskMessage(d, queue, settings), d.ID)
	}
	n, err := scriptEnqueue.Run(ctx, s.rdb, keys, args...).Int64()
	if err != nil {
		return fmt.Errorf("tasks: enqueue %d tasks: %w: %w", len(ds), webhook.ErrUnavailable, err)
	}
	if n < 0 || n > int64(len(ds)) {
		return fmt.Errorf("tasks: enqueue: unexpected script reply %d", n)
	}
	return nil
}

// scriptEnqueue is Asynq's enqueueCmd for many tasks of one queue.
//
// Input:
// KEYS[1]  -> asynq:{<qname>}:pending
// KEYS[2…] -> asynq:{<qname>}:t:<task_id>, one per task
// --
// ARGV[1]        -> current unix time in nsec
// ARGV[2k, 2k+1] -> the k-th task's message and ID
//
// Output:
// The number of tasks queued; a task whose ID exists already is skipped.
var scriptEnqueue = redis.NewScript(`
local n = 0
for i = 2, #KEYS do
  if redis.call("EXISTS", KEYS[i]) == 0 then
    redis.call("HSET", KEYS[i], "msg", ARGV[2 * i - 2], "state", "pending", "pending_since", ARGV[1])
    redis.call("LPUSH", KEYS[1], ARGV[2 * i - 1])
    n = n + 1
  end
end
return n`)

// taskMessage is the message of a delivery's task as Asynq encodes it
// (its proto TaskMessage, fields in number order, zero values left out):
// type deliver, the payload (PayloadOf), the delivery ID as its TaskID (so
// scriptEnqueue never queues one delivery twice), its queue (QueueOf), the
// retry budget (MaxRetry) and the timeout (TaskTimeout); no retention.
func taskMessage(d *webhook.Delivery, queue string, s Settings) []byte {
	payload := PayloadOf(d).Encode()
	b := make([]byte, 0, 48+len(payload)+len(d.ID)+len(queue))
	b = protowire.AppendTag(b, 1, protowire.BytesType) // type
	b = protowire.AppendString(b, TypeDeliver)
	b = protowire.AppendTag(b, 2, protowire.BytesType) // payload
	b = protowire.AppendBytes(b, payload)
	b = protowire.AppendTag(b, 3, protowire.BytesType) // id
	b = protowire.AppendString(b, d.ID)
	b = protowire.AppendTag(b, 4, protowire.BytesType) // queue
	b = protowire.AppendString(b, queue)
	if r := int32(s.MaxRetry()); r != 0 {
		b = protowire.AppendTag(b, 5, protowire.VarintType) // retry
		b = protowire.AppendVarint(b, uint64(int64(r)))
	}
	timeout := s.TaskTimeout()
	if timeout <= 0 {
		timeout = 30 * time.Minute // asynq's default when a task has neither timeout nor deadline
	}
	if t := int64(timeout.Seconds()); t != 0 {
		b = protowire.AppendTag(b, 8, protowire.VarintType) // timeout
		b = protowire.AppendVarint(b, uint64(t))
	}
	return b
}
