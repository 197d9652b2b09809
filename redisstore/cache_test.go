package redisstore

import "testing"

// The cache keeps at most about max bytes in its current generation; entries
// of the previous one survive while read; putting a key again replaces it
// without counting it twice.
func TestCacheGenerations(t *testing.T) {
	c := newCache[int](100)
	for range 10 {
		c.put("a", 1, 60) // the same key over and over: never rotates
	}
	if c.curBytes != 60 || c.old != nil {
		t.Fatalf("after re-puts: %d bytes, old generation %v", c.curBytes, c.old)
	}
	c.put("b", 2, 60) // over max: "a" moves to the old generation
	if v, ok := c.get("a"); !ok || v != 1 {
		t.Fatalf("a = %d, %v after one rotation", v, ok)
	}
	c.put("c", 3, 60)
	c.put("d", 4, 60)
	if _, ok := c.get("b"); ok {
		t.Error("b survived two rotations without being read")
	}
}
