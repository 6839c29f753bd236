// Package openapi holds the OpenAPI 3.1 documents of c2cauth's HTTP
// interfaces, embedded so that a program can serve them or hand them to a
// validator.
//
// Backend describes the backend (c2cauth.yaml): the auth-code endpoint,
// the probes, the metrics and the dev-only routes. Emulator describes the
// Live Hub emulator (emulator.yaml): Live Hub's token and generate
// endpoints, redeem and the test controls. The package's test starts the
// real `c2cauth dev` and checks its requests and responses against both.
//
// The variables hold the files' bytes and are shared: callers must not
// modify them.
package openapi

import _ "embed"

// Backend is the OpenAPI 3.1 document of the c2cauth backend, in YAML.
//
//go:embed c2cauth.yaml
var Backend []byte

// Emulator is the OpenAPI 3.1 document of the Live Hub emulator, in YAML.
//
//go:embed emulator.yaml
var Emulator []byte
