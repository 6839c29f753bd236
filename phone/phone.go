// Package phone normalises caller phone numbers to E.164 and masks them for logs.
//
// Live Hub accepts a caller phone only in E.164 form ("+" and up to 15
// digits). Visitors and identity providers write numbers in many ways, so
// every number is parsed with libphonenumber's rules (through
// github.com/nyaruka/phonenumbers) before it is trusted or forwarded.
package phone

import (
	"errors"
	"fmt"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// maxInputLength bounds the text handed to the parser. A formatted
// international number with spaces and punctuation stays well below it.
const maxInputLength = 64

// ErrInvalid is wrapped by every error Normalize returns, so callers can
// tell a bad number from other failures with errors.Is.
var ErrInvalid = errors.New("invalid phone number")

// Normalize parses raw and returns it in E.164 form, such as "+14155550100".
// A number without a leading "+" or international prefix is read as a
// national number of defaultRegion (an ISO 3166-1 alpha-2 code such as "US");
// with an empty defaultRegion such a number is rejected. The returned error
// wraps ErrInvalid and explains why the number was rejected in words fit for a
// visitor.
func Normalize(raw, defaultRegion string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", fmt.Errorf("%w: it is empty", ErrInvalid)
	}
	if len(raw) > maxInputLength {
		return "", fmt.Errorf("%w: it is longer than %d characters", ErrInvalid, maxInputLength)
	}
	region := strings.ToUpper(defaultRegion)
	if region == "" && !strings.HasPrefix(raw, "+") {
		return "", fmt.Errorf("%w: it must start with + and the country code, such as +14155550100", ErrInvalid)
	}

	number, err := phonenumbers.Parse(raw, region)
	if err != nil {
		return "", fmt.Errorf("%w: %s", ErrInvalid, parseReason(err))
	}
	if number.GetExtension() != "" {
		return "", fmt.Errorf("%w: it has an extension, which a caller phone cannot have", ErrInvalid)
	}
	if !phonenumbers.IsValidNumber(number) {
		return "", fmt.Errorf("%w: no such number exists in its country's numbering plan", ErrInvalid)
	}
	return phonenumbers.Format(number, phonenumbers.E164), nil
}

// parseReason rewords the parser's errors as short reasons.
func parseReason(err error) string {
	switch {
	case errors.Is(err, phonenumbers.ErrInvalidCountryCode):
		return "its country code is missing or unknown"
	case errors.Is(err, phonenumbers.ErrNotANumber):
		return "it is not a phone number"
	case errors.Is(err, phonenumbers.ErrTooShortNSN), errors.Is(err, phonenumbers.ErrTooShortAfterIDD):
		return "it is too short"
	case errors.Is(err, phonenumbers.ErrNumTooLong):
		return "it is too long"
	default:
		return "it could not be parsed"
	}
}

// ValidRegion reports whether region is a region code the parser supports, such
// as "US" or "GB".
func ValidRegion(region string) bool {
	return phonenumbers.GetCountryCodeForRegion(strings.ToUpper(region)) != 0
}

// Mask hides all but the country-code end and the last two digits of an
// E.164 number, such as "+1*******00", so logs can tell numbers apart
// without revealing them. Text that is not E.164 is masked completely.
func Mask(e164 string) string {
	if e164 == "" {
		return ""
	}
	if len(e164) < 6 || e164[0] != '+' {
		return "***"
	}
	const keepStart, keepEnd = 2, 2
	return e164[:keepStart] + strings.Repeat("*", len(e164)-keepStart-keepEnd) + e164[len(e164)-keepEnd:]
}
