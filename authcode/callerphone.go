package authcode

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/c2cauth/c2cauth/identity"
	"github.com/c2cauth/c2cauth/phone"
)

// PhoneMode chooses which caller phone, if any, the handler requests Live Hub to
// assert. Live Hub then lets a call with that code start only from that
// phone, which stops a code from being used to call as someone else.
type PhoneMode string

const (
	// PhoneFromIdentity asserts the phone of the signed-in identity. A
	// request phone is accepted only when it is the same number; any other
	// request phone gets 403, because the visitor cannot prove owning it.
	PhoneFromIdentity PhoneMode = "identity"

	// PhoneFromRequest asserts the request's callerPhone after normalising
	// it, or the identity's phone when the request names none. Use it only
	// where visitors are trusted to name their own number.
	PhoneFromRequest PhoneMode = "request"

	// PhoneOff asserts no phone, so Live Hub does not check the caller
	// number. A request phone is ignored.
	PhoneOff PhoneMode = "off"
)

func (m PhoneMode) valid() bool {
	switch m {
	case "", PhoneFromIdentity, PhoneFromRequest, PhoneOff:
		return true
	}
	return false
}

// ParsePhoneMode returns the mode named s.
func ParsePhoneMode(s string) (PhoneMode, error) {
	m := PhoneMode(s)
	if s == "" || !m.valid() {
		return "", fmt.Errorf("unknown caller phone mode %q; use identity, request or off", s)
	}
	return m, nil
}

// callerPhone applies the phone mode to a request and returns the E.164
// phone to assert, or "" for none.
func (h *Handler) callerPhone(id identity.Identity, requestPhone string) (string, error) {
	if h.cfg.CallerPhone == PhoneOff {
		return "", nil
	}

	var normalized string
	if requestPhone != "" {
		var err error
		normalized, err = phone.Normalize(requestPhone, h.cfg.DefaultRegion)
		if err != nil {
			return "", &Error{Code: CodeInvalidCallerPhone, Message: "The callerPhone is not a valid phone number: " + reason(err) + ".", Err: err}
		}
	}

	switch h.cfg.CallerPhone {
	case PhoneFromRequest:
		if normalized != "" {
			return normalized, nil
		}
		return id.Phone, nil
	default:
		if normalized != "" && normalized != id.Phone {
			if id.Phone == "" {
				return "", errorf(CodeCallerPhoneNotAllowed, "Calls from a given callerPhone are not allowed for this account; leave callerPhone out.")
			}
			return "", errorf(CodeCallerPhoneNotAllowed, "The callerPhone does not match the phone of the signed-in account.")
		}
		return id.Phone, nil
	}
}

// reason returns the part of a phone error after "invalid phone number: ".
func reason(err error) string {
	text := err.Error()
	if _, after, ok := strings.Cut(text, phone.ErrInvalid.Error()+": "); ok {
		return after
	}
	return text
}

// sentence turns an error into a client-facing sentence: the first letter
// upper case and a final period.
func sentence(err error) string {
	text := err.Error()
	if text == "" {
		return "The request is invalid."
	}
	first, size := utf8.DecodeRuneInString(text)
	text = string(unicode.ToUpper(first)) + text[size:]
	if !strings.HasSuffix(text, ".") {
		text += "."
	}
	return text
}
