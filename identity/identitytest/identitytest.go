// Package identitytest holds helpers for the tests of the authenticators
// under identity.
package identitytest

import (
	"errors"
	"testing"

	"github.com/c2cauth/c2cauth/identity"
)

// Outcome is the kind of result that Authenticate gives.
type Outcome int

// The outcomes, by the status the auth-code endpoint turns them into.
const (
	SignedIn        Outcome = iota
	Unauthenticated         // 401
	Failed                  // 503
)

// String returns the outcome with its status, for test messages.
func (o Outcome) String() string {
	return [...]string{"signed in", "unauthenticated (401)", "failed (503)"}[o]
}

// Classify returns the outcome of an Authenticate call that returned err.
func Classify(err error) Outcome {
	switch {
	case err == nil:
		return SignedIn
	case errors.Is(err, identity.ErrUnauthenticated):
		return Unauthenticated
	default:
		return Failed
	}
}

// ProblemFields returns the Config fields of each problem in err, an error
// of the New function of package pkg. It fails the test for a problem that
// is not an *identity.FieldError of that package.
func ProblemFields(t *testing.T, pkg string, err error) [][]string {
	t.Helper()
	fieldErrs, others := identity.FieldErrors(err)
	for _, problem := range others {
		t.Errorf("problem %q is a %T, want *identity.FieldError", problem, problem)
	}
	var fields [][]string
	for _, fieldErr := range fieldErrs {
		if fieldErr.Package != pkg {
			t.Errorf("problem %q names package %q, want %s", fieldErr, fieldErr.Package, pkg)
		}
		fields = append(fields, fieldErr.Fields)
	}
	return fields
}
