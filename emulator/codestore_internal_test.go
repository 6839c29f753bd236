package emulator

import (
	"encoding/binary"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestParseCode(t *testing.T) {
	const digits = "8e22ba993a094a85af5b3d9fd2c87f2a"
	tests := []struct {
		name string
		code string
		want bool
	}{
		{name: "issued form", code: "LHv1_" + digits, want: true},
		{name: "upper-case digits", code: "LHv1_" + strings.ToUpper(digits), want: false},
		{name: "other prefix", code: "LHv2_" + digits, want: false},
		{name: "no prefix", code: digits, want: false},
		{name: "short", code: "LHv1_" + digits[1:], want: false},
		{name: "long", code: "LHv1_" + digits + "0", want: false},
		{name: "not hex", code: "LHv1_" + digits[1:] + "g", want: false},
		{name: "empty", code: "", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, ok := parseCode(tt.code)
			if ok != tt.want {
				t.Fatalf("parseCode(%q): got ok %t, want %t", tt.code, ok, tt.want)
			}
			if ok && key.String() != tt.code {
				t.Errorf("parseCode(%q): got key of %q, want the same code", tt.code, key.String())
			}
		})
	}
}

func TestEncodePhone(t *testing.T) {
	for _, phone := range []string{"", "+12", "+14155550100", "+999999999999999", "+100000000000000"} {
		if got := decodePhone(encodePhone(phone)); got != phone {
			t.Errorf("decodePhone(encodePhone(%q)): got %q", phone, got)
		}
	}
}

// TestCodeStoreBound checks that a steady stream of codes keeps the store at
// its bound, dropping the oldest expired codes first, and that the slice of
// keys stays in proportion.
func TestCodeStoreBound(t *testing.T) {
	const (
		maxCodes = 100
		lifetime = 10 * time.Second
	)
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	s := newCodeStore(maxCodes, start)

	// One code a second for an hour, each valid for ten seconds.
	const count = 3600
	for i := range count {
		now := start.Add(time.Duration(i) * time.Second)
		s.add(testKey(i), "connection", "", now.Add(lifetime), now)
	}
	if got := s.len(); got != maxCodes {
		t.Errorf("got %d codes, want %d", got, maxCodes)
	}
	if got, want := len(s.order)-s.head, s.len(); got != want {
		t.Errorf("got %d keys in order, want %d", got, want)
	}
	if got := cap(s.order); got > 4*maxCodes {
		t.Errorf("got capacity %d for the keys, want at most %d", got, 4*maxCodes)
	}
	if _, ok := s.get(testKey(count - maxCodes - 1)); ok {
		t.Errorf("get code %d: got found, want dropped", count-maxCodes-1)
	}
	if _, ok := s.get(testKey(count - maxCodes)); !ok {
		t.Errorf("get code %d: got dropped, want found", count-maxCodes)
	}
}

// TestCodeStoreKeepsValidCodes checks that codes still valid are kept above
// the bound, and dropped once they have expired.
func TestCodeStoreKeepsValidCodes(t *testing.T) {
	const maxCodes = 10
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	s := newCodeStore(maxCodes, start)

	for i := range 3 * maxCodes {
		s.add(testKey(i), "connection", "+14155550100", start.Add(time.Minute), start)
	}
	if got := s.len(); got != 3*maxCodes {
		t.Errorf("got %d valid codes, want %d", got, 3*maxCodes)
	}

	later := start.Add(time.Minute)
	s.add(testKey(3*maxCodes), "connection", "", later.Add(time.Minute), later)
	if got := s.len(); got != maxCodes {
		t.Errorf("got %d codes after expiry, want %d", got, maxCodes)
	}
	if _, ok := s.get(testKey(3 * maxCodes)); !ok {
		t.Errorf("get newest code: got dropped, want found")
	}
}

func TestCodeStoreRecord(t *testing.T) {
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	expiry := start.Add(time.Minute)
	s := newCodeStore(DefaultMaxRememberedCodes, start)
	s.add(testKey(1), "sales", "+14155550100", expiry, start)
	s.add(testKey(2), "support", "", expiry, start)
	s.markUsed(testKey(2))

	tests := []struct {
		key  codeKey
		want issuedCode
	}{
		{key: testKey(1), want: issuedCode{sipConnectionID: "sales", callerPhone: "+14155550100", expiresAt: expiry}},
		{key: testKey(2), want: issuedCode{sipConnectionID: "support", expiresAt: expiry, used: true}},
	}
	for _, tt := range tests {
		got, ok := s.get(tt.key)
		if !ok {
			t.Errorf("get %s: got not found, want found", tt.key)
			continue
		}
		if got != tt.want {
			t.Errorf("get %s: got %+v, want %+v", tt.key, got, tt.want)
		}
	}
	if got := len(s.connections); got != 2 {
		t.Errorf("got %d interned connections, want 2", got)
	}
}

// BenchmarkCodeStoreAdd adds b.N codes that stay valid, so the store keeps
// them all, and reports the live heap that each code takes. Run it with
// -benchtime=300000x for the number of codes one emulator of the benchmark
// in /bench issues.
func BenchmarkCodeStoreAdd(b *testing.B) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	s := newCodeStore(DefaultMaxRememberedCodes, now)
	for i := range b.N {
		s.add(testKey(i), "f399069f-e84f-41e4-ac71-fab2ded73f1c", "+14155550100", now.Add(time.Minute), now)
	}

	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(b.N), "heap-B/code")
	runtime.KeepAlive(&s)
}

// testKey returns a distinct key for each i.
func testKey(i int) codeKey {
	var k codeKey
	binary.BigEndian.PutUint64(k[:], uint64(i))
	return k
}
