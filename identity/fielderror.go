package identity

import (
	"errors"
	"strings"
)

// FieldError is a problem with the Config of an authenticator package,
// such as a required field left empty. The constructors of the packages
// under identity return one FieldError per problem, joined with
// errors.Join when there are several. A program finds each problem with
// errors.As and can name the setting behind the field in its own terms,
// such as a command-line option.
type FieldError struct {
	// Package is the name of the package whose Config has the fields,
	// such as "jwtauth".
	Package string

	// Fields names the Config fields the problem involves, the main one
	// first. Most problems involve one field. A conflict, such as two
	// fields that must not both be set, names each of them.
	Fields []string

	// Problem describes what is wrong, worded to follow the field names, such
	// as "is required" or `"ftp://example.com" must start with https://`.
	Problem string

	// Err is the underlying error, such as a parse error, or nil.
	Err error
}

// Error returns the package name and the message with the Config field
// names, such as "jwtauth: Issuer is required".
func (e *FieldError) Error() string {
	return e.Package + ": " + e.Message(nil)
}

// Unwrap returns the underlying error.
func (e *FieldError) Unwrap() error { return e.Err }

// Message returns the problem without the package name, writing each field
// as name returns it, such as "--jwt-issuer is required". A nil name keeps
// the Config field names. A field for which name returns "" is left out.
// That suits a field the program never sets, which a package names only
// among the fields to choose from, as in "JWKSURL, StaticKey,
// StaticKeyFile and HMACSecret are empty; set one of them".
func (e *FieldError) Message(name func(field string) string) string {
	names := make([]string, 0, len(e.Fields))
	for _, field := range e.Fields {
		if name != nil {
			field = name(field)
		}
		if field != "" {
			names = append(names, field)
		}
	}

	var b strings.Builder
	b.WriteString(joinNames(names))
	if e.Problem != "" {
		b.WriteString(" ")
		b.WriteString(e.Problem)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// joinNames writes names as a list in a sentence: "A", "A and B" or
// "A, B and C".
func joinNames(names []string) string {
	switch len(names) {
	case 0:
		return ""
	case 1:
		return names[0]
	default:
		return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
	}
}

// FieldErrors returns the FieldErrors among the problems in err, an error
// of a constructor that may join several with errors.Join, and the other
// problems apart.
func FieldErrors(err error) (fieldErrs []*FieldError, others []error) {
	if err == nil {
		return nil, nil
	}
	problems := []error{err}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		problems = joined.Unwrap()
	}
	for _, problem := range problems {
		if fieldErr, ok := errors.AsType[*FieldError](problem); ok {
			fieldErrs = append(fieldErrs, fieldErr)
		} else {
			others = append(others, problem)
		}
	}
	return fieldErrs, others
}
