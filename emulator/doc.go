// Package emulator is an in-process stand-in for AudioCodes Live Hub, written
// as an [http.Handler], for developing and testing click-to-call integrations
// offline.
//
// # What it models
//
// The two Live Hub endpoints that a click-to-call backend calls, with Live
// Hub's paths, bodies and statuses:
//
//   - POST /oauth/token issues opaque bearer tokens through the OAuth 2.0
//     client credentials grant. The client authenticates with client_id and
//     client_secret in the form body, as Live Hub documents, or with HTTP
//     Basic authentication (RFC 6749 section 2.3.1, so the ID and secret are
//     form-encoded before base64). Tokens last [Config.TokenTTL] and become
//     invalid at once through [Emulator.RevokeTokens], which is how a test can
//     simulate a rotated secret or a token Live Hub no longer accepts.
//   - POST /api/v1/sipConnections/{sipConnectionId}/generateAuthenticationCode
//     checks the bearer token, then the SIP connection, then the JSON body
//     with its optional E.164 callerPhone. It returns a single-use code of the
//     form "LHv1_" followed by 32 lowercase hex digits, valid for
//     [Config.CodeTTL].
//
// Live Hub does not document how the click-to-call SDK presents a code when it
// starts a call, so the emulator adds POST /emulator/v1/redeem in its place.
// Its body is a JSON object with authenticationCode and an optional
// callerPhone. A body that is not one JSON object, or has no non-empty
// authenticationCode string, gets 400. Then the code's state decides, whatever the rest of the
// body contains: an unknown code gets 404, a used one 409 and an expired one
// 410. Only then does a callerPhone that is not a string get 400, and a
// missing or different phone, when the code asserted one, get 403. Neither
// uses the code up. The first redeem that passes returns 200 with
//
//	{"sipConnectionId": "<id>", "callerPhone": "+14155550100"}
//
// where callerPhone is null when the code asserted no phone. A code is valid
// while the clock is before its issue time plus CodeTTL. The redeem endpoint
// allows cross-origin requests from any origin, because the real SDK runs in
// a browser.
//
// Test controls, which Live Hub does not have:
//
//   - POST /emulator/v1/faults queues a [Fault]. DELETE /emulator/v1/faults
//     clears the queue. Besides the fields endpoint, status, count, latencyMs
//     and retryAfter, a fault takes an optional "probability" from 0 to 1,
//     which is an extension of this emulator. The fault then applies to each
//     matching request with that probability, so a test can make a share of
//     requests fail at random. Zero or absent means every matching request.
//     A request that the fault skips does not count towards its count.
//   - POST /emulator/v1/revoke-tokens invalidates every token issued so far.
//   - GET /emulator/v1/stats returns the [Stats] counters as JSON.
//
// The same controls exist as methods for tests that hold the *Emulator.
//
// # Choices where Live Hub is silent
//
// Live Hub does not document its error bodies. The token endpoint returns
// errors as RFC 6749 section 5.2 prescribes:
//
//	{"error": "invalid_client", "error_description": "..."}
//
// with 401 for a wrong or missing client (and a WWW-Authenticate header when
// the client used HTTP Basic), and 400 for a malformed request or a grant type
// other than client_credentials.
// Every other error of the emulator, including 404 for an unknown path and 405
// (with an Allow header) for a wrong method, uses this shape:
//
//	{"error": "<machine_code>", "message": "<sentence>"}
//
// Live Hub's documented endpoints require the documented Content-Type
// (application/x-www-form-urlencoded for the token, application/json for
// codes) and respond with 400 otherwise, since Live Hub documents no 415. The
// emulator's own endpoints parse their body as JSON whatever its Content-Type.
// Request bodies are capped at 64 KiB, and a larger body gets 413.
//
// Live Hub's rate limits are not documented, so the emulator never returns
// 429 or a 5xx status on its own. Tests get them through faults.
//
// Generated codes, used and expired ones included, are remembered until the
// emulator stops, so a late redeem gets 409 or 410. To bound memory under
// long load, an emulator that contains more than [Config.MaxRememberedCodes]
// codes drops the oldest expired ones, which then get 404.
//
// # What it does not model
//
// The emulator does not model the real click-to-call SDK and widget, SIP call
// setup, Live Hub's real rate limits, token scopes and permissions, TLS,
// persistence across restarts, several API clients, or the IAM pages that
// create API clients and change their secrets.
package emulator
