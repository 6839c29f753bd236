package identity_test

import (
	"errors"
	"fmt"
	"io/fs"
	"testing"

	"github.com/c2cauth/c2cauth/identity"
)

func TestFieldErrorText(t *testing.T) {
	options := map[string]string{"Issuer": "--issuer", "StaticKey": "--key-file", "JWKSURL": "--jwks-url", "HMACSecret": "--secret"}
	tests := []struct {
		name    string
		err     *identity.FieldError
		error   string
		message string
	}{
		{
			name:    "one field",
			err:     &identity.FieldError{Package: "jwtauth", Fields: []string{"Issuer"}, Problem: "is required"},
			error:   "jwtauth: Issuer is required",
			message: "--issuer is required",
		},
		{
			name:    "two fields",
			err:     &identity.FieldError{Package: "jwtauth", Fields: []string{"JWKSURL", "StaticKey"}, Problem: "are set together"},
			error:   "jwtauth: JWKSURL and StaticKey are set together",
			message: "--jwks-url and --key-file are set together",
		},
		{
			name:    "three fields",
			err:     &identity.FieldError{Package: "jwtauth", Fields: []string{"JWKSURL", "StaticKey", "HMACSecret"}, Problem: "are all empty"},
			error:   "jwtauth: JWKSURL, StaticKey and HMACSecret are all empty",
			message: "--jwks-url, --key-file and --secret are all empty",
		},
		{
			name:    "cause",
			err:     &identity.FieldError{Package: "jwtauth", Fields: []string{"StaticKey"}, Problem: "is invalid", Err: errors.New("no PEM block found")},
			error:   "jwtauth: StaticKey is invalid: no PEM block found",
			message: "--key-file is invalid: no PEM block found",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.error {
				t.Errorf("Error: got %q, want %q", got, tt.error)
			}
			if got := tt.err.Message(func(field string) string { return options[field] }); got != tt.message {
				t.Errorf("Message: got %q, want %q", got, tt.message)
			}
			if got, want := tt.err.Message(nil), tt.error[len("jwtauth: "):]; got != want {
				t.Errorf("Message(nil): got %q, want %q", got, want)
			}
		})
	}
}

func TestFieldErrorMessageLeavesOutUnnamedFields(t *testing.T) {
	err := &identity.FieldError{Package: "jwtauth", Fields: []string{"JWKSURL", "StaticKey", "StaticKeyFile", "HMACSecret"}, Problem: "are empty; set one of them"}
	options := map[string]string{"JWKSURL": "--jwks-url", "StaticKeyFile": "--key-file"}

	got := err.Message(func(field string) string { return options[field] })
	if want := "--jwks-url and --key-file are empty; set one of them"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestFieldErrorInJoinedErrors(t *testing.T) {
	cause := fmt.Errorf("read key: %w", fs.ErrNotExist)
	joined := errors.Join(
		&identity.FieldError{Package: "jwtauth", Fields: []string{"Issuer"}, Problem: "is required"},
		&identity.FieldError{Package: "jwtauth", Fields: []string{"StaticKey"}, Problem: "is invalid", Err: cause},
	)

	if !errors.Is(joined, fs.ErrNotExist) {
		t.Error("errors.Is does not find the cause through FieldError")
	}
	var fields []string
	for _, problem := range joined.(interface{ Unwrap() []error }).Unwrap() {
		fieldErr, ok := errors.AsType[*identity.FieldError](problem)
		if !ok {
			t.Fatalf("errors.As found no FieldError in %q", problem)
		}
		fields = append(fields, fieldErr.Fields...)
	}
	if len(fields) != 2 || fields[0] != "Issuer" || fields[1] != "StaticKey" {
		t.Errorf("got fields %q, want Issuer and StaticKey", fields)
	}
}

func TestFieldErrorsSplitsJoinedErrors(t *testing.T) {
	issuer := &identity.FieldError{Package: "jwtauth", Fields: []string{"Issuer"}, Problem: "is required"}
	audience := &identity.FieldError{Package: "jwtauth", Fields: []string{"Audience"}, Problem: "is required"}
	other := errors.New("key set not fetched")

	fieldErrs, others := identity.FieldErrors(errors.Join(issuer, other, audience))
	if len(fieldErrs) != 2 || fieldErrs[0] != issuer || fieldErrs[1] != audience {
		t.Errorf("field errors: got %v, want [%v %v]", fieldErrs, issuer, audience)
	}
	if len(others) != 1 || others[0] != other {
		t.Errorf("other problems: got %v, want [%v]", others, other)
	}

	fieldErrs, others = identity.FieldErrors(issuer)
	if len(fieldErrs) != 1 || len(others) != 0 {
		t.Errorf("single FieldError: got %v and %v, want it alone", fieldErrs, others)
	}
	if fieldErrs, others := identity.FieldErrors(nil); fieldErrs != nil || others != nil {
		t.Errorf("nil error: got %v and %v, want none", fieldErrs, others)
	}
}
