package identity

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxUserIDLength bounds a user ID in bytes. User IDs end up in rate-limit
// keys and audit logs.
const MaxUserIDLength = 256

// CheckUserID returns an error that names what makes id unsafe as a user ID
// in rate-limit keys and log lines: empty, longer than MaxUserIDLength, not
// valid UTF-8, or with control characters. Authenticators check the user IDs
// they read with it.
func CheckUserID(id string) error {
	switch {
	case id == "":
		return errors.New("user ID is empty")
	case len(id) > MaxUserIDLength:
		return fmt.Errorf("user ID is longer than %d bytes", MaxUserIDLength)
	case !utf8.ValidString(id):
		return errors.New("user ID is not valid UTF-8")
	case strings.ContainsFunc(id, unicode.IsControl):
		return errors.New("user ID contains control characters")
	}
	return nil
}
