package emulator

import "time"

// expiringMap is a map whose entries are deleted once their drop time has
// passed. It is not safe for concurrent use.
//
// Pruning walks the entries in insertion order and stops at the first one
// still due, so its cost is proportional to the entries it deletes. That
// assumes entries are added in order of drop time, which holds because every
// entry of a map gets the same lifetime. When an injected clock goes backwards
// the order breaks, and an entry may then outlive its drop time until the
// entries added before it are deleted.
type expiringMap[K comparable, V any] struct {
	entries map[K]V
	order   []dropTime[K] // in insertion order
}

type dropTime[K comparable] struct {
	key K
	at  time.Time
}

func newExpiringMap[K comparable, V any]() expiringMap[K, V] {
	return expiringMap[K, V]{entries: make(map[K]V)}
}

// put adds an entry to be deleted at dropAt, after deleting the entries due
// at now.
func (m *expiringMap[K, V]) put(key K, value V, dropAt, now time.Time) {
	m.prune(now)
	m.entries[key] = value
	m.order = append(m.order, dropTime[K]{key: key, at: dropAt})
}

// get returns the entry for key, after deleting the entries due at now.
func (m *expiringMap[K, V]) get(key K, now time.Time) (V, bool) {
	m.prune(now)
	v, ok := m.entries[key]
	return v, ok
}

// prune deletes the entries due at now.
func (m *expiringMap[K, V]) prune(now time.Time) {
	n := 0
	for n < len(m.order) && !now.Before(m.order[n].at) {
		delete(m.entries, m.order[n].key)
		n++
	}
	// Slicing keeps the dropped head in the backing array only until append
	// next copies the live part to a new one.
	m.order = m.order[n:]
}

// clear deletes every entry.
func (m *expiringMap[K, V]) clear() {
	clear(m.entries)
	m.order = nil
}

// len returns the number of entries not yet deleted.
func (m *expiringMap[K, V]) len() int {
	return len(m.entries)
}
