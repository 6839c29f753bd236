// Package httpstatus writes HTTP status codes into messages.
package httpstatus

import (
	"net/http"
	"strconv"
)

// Text returns code with its standard text, such as "503 Service
// Unavailable", or the number alone for a code that has none.
func Text(code int) string {
	if text := http.StatusText(code); text != "" {
		return strconv.Itoa(code) + " " + text
	}
	return strconv.Itoa(code)
}
