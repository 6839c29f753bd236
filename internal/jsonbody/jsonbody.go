// Package jsonbody reads small JSON request bodies strictly: one object of
// known string fields, each at most once, with nothing after it.
//
// encoding/json alone keeps the last of two duplicate keys and ignores
// trailing data, which lets two parsers in a chain read different values from
// one body. Rejecting both closes that gap.
package jsonbody

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"unicode/utf8"
)

// jsonSpace holds the characters that JSON allows between tokens.
const jsonSpace = " \t\r\n"

// ErrTooLarge is returned by Read when the body exceeds the size limit.
var ErrTooLarge = errors.New("request body too large")

// ErrNotJSON is returned by Read when the Content-Type is not
// application/json.
var ErrNotJSON = errors.New("request body is not JSON")

// ErrInvalid is wrapped by every error about the body's content. Its
// message is written for the client that sent the body.
var ErrInvalid = errors.New("invalid JSON body")

// CheckContentType returns ErrNotJSON unless the request declares
// application/json, optionally with a UTF-8 charset, and no content
// encoding such as gzip.
func CheckContentType(r *http.Request) error {
	if encoding := r.Header.Get("Content-Encoding"); encoding != "" && encoding != "identity" {
		return ErrNotJSON
	}
	contentType := r.Header.Get("Content-Type")
	if contentType == "application/json" {
		return nil
	}
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil || mediaType != "application/json" {
		return ErrNotJSON
	}
	if charset, ok := params["charset"]; ok && charset != "utf-8" && charset != "UTF-8" {
		return ErrNotJSON
	}
	return nil
}

// Read checks the Content-Type of r, reads at most maxBytes of its body and
// decodes it with Decode. It returns ErrNotJSON, ErrTooLarge or an error
// wrapping ErrInvalid.
func Read(w http.ResponseWriter, r *http.Request, maxBytes int64, fields map[string]*string) error {
	if err := CheckContentType(r); err != nil {
		return err
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return ErrTooLarge
		}
		return fmt.Errorf("%w: reading the body failed", ErrInvalid)
	}
	return Decode(body, fields)
}

// Decode parses body as one JSON object whose members are all keys of
// fields with string values, and stores each value through its pointer.
// Members may be absent, so "{}" is valid. Invalid UTF-8, unknown keys,
// duplicate keys, values of other types and anything after the object are
// errors that wrap ErrInvalid.
func Decode(body []byte, fields map[string]*string) error {
	// encoding/json replaces invalid UTF-8 with U+FFFD instead of failing,
	// which would let two readers of one body disagree.
	if !utf8.Valid(body) {
		return fmt.Errorf("%w: the body is not valid UTF-8", ErrInvalid)
	}
	if string(bytes.Trim(body, jsonSpace)) == "{}" {
		return nil // the usual body, without the decoder's cost
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	start, err := dec.Token()
	if err == io.EOF {
		return fmt.Errorf("%w: the body is empty; send a JSON object such as {}", ErrInvalid)
	}
	if delim, ok := start.(json.Delim); err != nil || !ok || delim != '{' {
		return fmt.Errorf("%w: the body must be a JSON object", ErrInvalid)
	}

	seen := make(map[string]bool, len(fields))
	for dec.More() {
		token, err := dec.Token()
		if err != nil {
			return fmt.Errorf("%w: malformed JSON", ErrInvalid)
		}
		key := token.(string) // json.Decoder only yields string keys inside an object
		target, known := fields[key]
		if !known {
			return fmt.Errorf("%w: unknown field %q", ErrInvalid, key)
		}
		if seen[key] {
			return fmt.Errorf("%w: field %q appears more than once", ErrInvalid, key)
		}
		seen[key] = true

		value, err := dec.Token()
		if err != nil {
			return fmt.Errorf("%w: malformed JSON", ErrInvalid)
		}
		s, ok := value.(string)
		if !ok {
			return fmt.Errorf("%w: field %q must be a string", ErrInvalid, key)
		}
		*target = s
	}
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("%w: malformed JSON", ErrInvalid)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: unexpected data after the JSON object", ErrInvalid)
	}
	return nil
}
