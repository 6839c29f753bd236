package emulator

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DefaultMaxRememberedCodes is the number of codes past which an emulator
// drops the oldest expired ones, when Config.MaxRememberedCodes is not set. A remembered code takes 80 to 140 bytes of heap (measured with
// BenchmarkCodeStoreAdd and at this bound, Go 1.26 on linux/amd64), so at
// this bound the codes take about 70 MB.
const DefaultMaxRememberedCodes = 500_000

// codeKey is the random part of an authentication code: the 16 bytes that
// its 32 hex digits encode.
type codeKey [16]byte

// String returns the authentication code with key k.
func (k codeKey) String() string {
	return codePrefix + hex.EncodeToString(k[:])
}

// parseCode returns the key of code, and false when code does not have the
// form of the codes that the emulator issues.
func parseCode(code string) (codeKey, bool) {
	var k codeKey
	digits, ok := strings.CutPrefix(code, codePrefix)
	if !ok || len(digits) != hex.EncodedLen(len(k)) {
		return codeKey{}, false
	}
	if _, err := hex.Decode(k[:], []byte(digits)); err != nil {
		return codeKey{}, false
	}
	// hex.Decode accepts upper-case digits too, which would let a second
	// spelling of an issued code redeem it.
	if hex.EncodeToString(k[:]) != digits {
		return codeKey{}, false
	}
	return k, true
}

// issuedCode is the record of one authentication code, as redeem reads it.
type issuedCode struct {
	sipConnectionID string
	callerPhone     string // empty when the code asserts no phone
	expiresAt       time.Time
	used            bool
}

// storedCode is the compact record that a codeStore keeps of one code. It
// contains no pointers, so the garbage collector need not scan the store,
// however many codes it contains.
type storedCode struct {
	expiresAt   time.Duration // after the store's epoch
	callerPhone uint64        // the E.164 digits as a number, or 0 for none
	connection  uint32        // index into codeStore.connections
	used        bool
}

// codeStore remembers the authentication codes an emulator issued, used and
// expired ones included, so that redeem can tell them from codes never
// issued. It is not safe for concurrent use.
//
// A code is remembered until the store is discarded, except that while the
// store contains more than max codes, add drops the oldest codes that have
// expired. Codes still valid are never dropped, so the store contains more
// than max codes while more than max are valid at once.
//
// Codes are dropped in the order they were added, which is the order of
// their expiry because every code of an emulator has the same lifetime. When
// an injected clock goes backwards the two orders differ, and an expired code
// may then be kept until the codes added before it expire.
type codeStore struct {
	max   int
	epoch time.Time // the origin of storedCode.expiresAt

	codes map[codeKey]storedCode
	// order contains the keys of codes in the order they were added, from
	// order[head] on. The dropped keys before head are copied over once
	// they fill half of the slice.
	order []codeKey
	head  int

	// connections interns SIP connection IDs, which are few because
	// generate accepts only the configured ones.
	connections     []string
	connectionIndex map[string]uint32
}

func newCodeStore(maxCodes int, epoch time.Time) codeStore {
	return codeStore{
		max:             maxCodes,
		epoch:           epoch,
		codes:           make(map[codeKey]storedCode),
		connectionIndex: make(map[string]uint32),
	}
}

// add remembers a new code, then drops the oldest expired codes while the
// store contains more than max. callerPhone must be empty or an E.164 number,
// as the generate endpoint checks.
func (s *codeStore) add(key codeKey, sipConnectionID, callerPhone string, expiresAt, now time.Time) {
	stored := storedCode{
		expiresAt:   expiresAt.Sub(s.epoch),
		callerPhone: encodePhone(callerPhone),
		connection:  s.intern(sipConnectionID),
	}
	s.codes[key] = stored
	s.order = append(s.order, key)

	for len(s.codes) > s.max {
		oldest := s.order[s.head]
		if now.Before(s.epoch.Add(s.codes[oldest].expiresAt)) {
			break
		}
		delete(s.codes, oldest)
		s.head++
	}
	if s.head > 0 && s.head >= len(s.order)/2 {
		n := copy(s.order, s.order[s.head:])
		clear(s.order[n:])
		s.order = s.order[:n]
		s.head = 0
	}
}

// get returns the record of the code with key, and false when the store
// does not contain it.
func (s *codeStore) get(key codeKey) (issuedCode, bool) {
	stored, ok := s.codes[key]
	if !ok {
		return issuedCode{}, false
	}
	return issuedCode{
		sipConnectionID: s.connections[stored.connection],
		callerPhone:     decodePhone(stored.callerPhone),
		expiresAt:       s.epoch.Add(stored.expiresAt),
		used:            stored.used,
	}, true
}

// markUsed records that the code with key was redeemed. The store must
// contain the code.
func (s *codeStore) markUsed(key codeKey) {
	stored := s.codes[key]
	stored.used = true
	s.codes[key] = stored
}

// len returns the number of codes in the store.
func (s *codeStore) len() int {
	return len(s.codes)
}

// intern returns the index of sipConnectionID in s.connections, adding it
// when it is new.
func (s *codeStore) intern(sipConnectionID string) uint32 {
	if i, ok := s.connectionIndex[sipConnectionID]; ok {
		return i
	}
	i := uint32(len(s.connections))
	s.connections = append(s.connections, sipConnectionID)
	s.connectionIndex[sipConnectionID] = i
	return i
}

// encodePhone returns the digits of an E.164 number as one integer, or 0 for
// an empty phone. E.164 allows at most 15 digits and no leading 0, so the
// integer fits in 64 bits and maps back to the same number.
func encodePhone(phone string) uint64 {
	if phone == "" {
		return 0
	}
	n, err := strconv.ParseUint(strings.TrimPrefix(phone, "+"), 10, 64)
	if err != nil || !isE164(phone) {
		// The generate endpoint accepts only E.164 numbers, so this is a
		// programming error.
		panic(fmt.Sprintf("emulator: caller phone %q is not an E.164 number", phone))
	}
	return n
}

// decodePhone reverses encodePhone.
func decodePhone(n uint64) string {
	if n == 0 {
		return ""
	}
	return "+" + strconv.FormatUint(n, 10)
}
