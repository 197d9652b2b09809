package redisstore

import "sync"

// cache is a bounded map for the worker's hot path: two generations; when
// the current one holds more than max bytes it becomes the old one and the
// older one is dropped, so entries used recently survive a rotation.
type cache[V any] struct {
	mu       sync.Mutex
	max      int
	cur, old map[string]cached[V]
	curBytes int
}

type cached[V any] struct {
	v    V
	size int
}

func newCache[V any](maxBytes int) *cache[V] {
	return &cache[V]{max: maxBytes, cur: map[string]cached[V]{}}
}

func (c *cache[V]) get(key string) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.cur[key]; ok {
		return e.v, true
	}
	e, ok := c.old[key]
	if ok {
		c.putLocked(key, e)
	}
	return e.v, ok
}

// put keeps v under key; size is about how many bytes it holds.
func (c *cache[V]) put(key string, v V, size int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.putLocked(key, cached[V]{v, size})
}

func (c *cache[V]) putLocked(key string, e cached[V]) {
	if prev, ok := c.cur[key]; ok {
		c.curBytes -= prev.size
	}
	if c.curBytes+e.size > c.max {
		c.old, c.cur, c.curBytes = c.cur, map[string]cached[V]{}, 0
	}
	c.cur[key] = e
	c.curBytes += e.size
}
