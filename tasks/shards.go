package tasks

import (
	"hash/fnv"
	"strconv"
	"strings"
)

// QueueName is the delivery queue when there is one (TIDINGS_QUEUE_SHARDS=1,
// the default) and the prefix of every delivery queue's name.
const QueueName = "webhooks"

// clusterSlots is the number of Redis Cluster hash slots.
const clusterSlots = 16384

// QueueNames are the names of n delivery queues. One is "webhooks". For
// more, queue i (from 0) is "webhooks-<i>", or "webhooks-<i>-<k>" with the
// least k that puts it in the i-th of n equal ranges of cluster slots.
// Every key of an Asynq queue carries the queue's name as its hash tag, so
// a queue lives in one slot; `redis-cli --cluster create` gives each of m
// masters an equal range of slots, so with n = m (or a multiple) the
// queues spread evenly over the masters. The names depend on n alone: every
// process with the same TIDINGS_QUEUE_SHARDS computes the same ones.
func QueueNames(n int) []string {
	if n <= 1 {
		return []string{QueueName}
	}
	names := make([]string, n)
	for i := range names {
		lo, hi := i*clusterSlots/n, (i+1)*clusterSlots/n
		base := QueueName + "-" + strconv.Itoa(i)
		name := base
		for k := 0; ; k++ {
			if s := Slot(name); s >= lo && s < hi {
				break
			}
			name = base + "-" + strconv.Itoa(k)
		}
		names[i] = name
	}
	return names
}

// IsDeliveryQueue reports whether an Asynq queue is one of Tidings'
// delivery queues, under any shard count.
func IsDeliveryQueue(name string) bool { return strings.HasPrefix(name, QueueName) }

// queueFor is the queue of a webhook's deliveries: by a hash of its ID, so
// all of a webhook's deliveries share one queue (Asynq's FIFO order and the
// per-endpoint limits work as with one queue).
func queueFor(queues []string, webhookID string) string {
	if len(queues) == 0 {
		return QueueName
	}
	if len(queues) == 1 {
		return queues[0]
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(webhookID))
	return queues[h.Sum32()%uint32(len(queues))]
}

// Slot is the Redis Cluster hash slot of an Asynq queue's keys
// (asynq:{<queue>}:…): CRC16 (XMODEM) of the name, modulo 16384.
func Slot(queue string) int {
	var crc uint16
	for i := 0; i < len(queue); i++ {
		crc ^= uint16(queue[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc) % clusterSlots
}
