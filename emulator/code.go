package emulator

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
)

// codePrefix starts every authentication code, as in Live Hub's example.
const codePrefix = "LHv1_"

// Errors of redeem. handleRedeem maps each to its own status.
var (
	errCodeNotFound  = errors.New("authentication code not found")
	errCodeUsed      = errors.New("authentication code was already used")
	errCodeExpired   = errors.New("authentication code has expired")
	errPhoneMismatch = errors.New("callerPhone does not match the caller phone the code was issued for")
)

type generateResponse struct {
	AuthenticationCode string `json:"authenticationCode"`
}

type redeemResponse struct {
	SIPConnectionID string  `json:"sipConnectionId"`
	CallerPhone     *string `json:"callerPhone"` // null when the code asserts no phone
}

// handleGenerate serves POST
// /api/v1/sipConnections/{sipConnectionId}/generateAuthenticationCode.
func (e *Emulator) handleGenerate(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="livehub-emulator"`)
		writeError(w, http.StatusUnauthorized, "invalid_token", "missing Authorization header with a bearer access token")
		return
	}
	if !e.validToken(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="livehub-emulator", error="invalid_token"`)
		writeError(w, http.StatusUnauthorized, "invalid_token", "access token is invalid, expired or revoked, request a new one from /oauth/token")
		return
	}
	id := r.PathValue("sipConnectionId")
	if !e.sipConnections[id] {
		writeError(w, http.StatusNotFound, "sip_connection_not_found", fmt.Sprintf("SIP connection %q does not exist", id))
		return
	}

	if !hasMediaType(r, "application/json") {
		writeError(w, http.StatusBadRequest, "invalid_request", "Content-Type must be application/json")
		return
	}
	obj, ok := readObject(w, r)
	if !ok {
		return
	}
	phone, hasPhone, err := optionalString(obj, "callerPhone")
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	if hasPhone && !isE164(phone) {
		writeError(w, http.StatusBadRequest, "invalid_request",
			fmt.Sprintf("callerPhone %q is not an E.164 number such as +14155550100", phone))
		return
	}

	code := e.issueCode(id, phone)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, generateResponse{AuthenticationCode: code})
}

// issueCode creates and records a new authentication code.
func (e *Emulator) issueCode(sipConnectionID, callerPhone string) string {
	var key codeKey
	rand.Read(key[:]) // never returns an error

	now := e.now()
	e.codesMu.Lock()
	e.codes.add(key, sipConnectionID, callerPhone, now.Add(e.codeTTL), now)
	e.codesMu.Unlock()

	e.codesIssued.Add(1)
	return key.String()
}

// handleRedeem serves POST /emulator/v1/redeem, which replaces the
// click-to-call SDK presenting a code when it starts a call.
func (e *Emulator) handleRedeem(w http.ResponseWriter, r *http.Request) {
	obj, ok := readObject(w, r)
	if !ok {
		return
	}
	code, _, err := optionalString(obj, "authenticationCode")
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	if code == "" {
		writeError(w, http.StatusBadRequest, "invalid_request", "missing authenticationCode")
		return
	}
	// redeem reports a problem with callerPhone only after the code's own
	// state, so that a used or expired code gets 409 or 410 whatever the
	// rest of the body contains.
	phone, _, phoneErr := optionalString(obj, "callerPhone")

	redeemed, err := e.redeem(code, phone, phoneErr)
	switch {
	case errors.Is(err, errCodeNotFound):
		writeError(w, http.StatusNotFound, "code_not_found", err.Error())
	case errors.Is(err, errCodeUsed):
		writeError(w, http.StatusConflict, "code_used", err.Error())
	case errors.Is(err, errCodeExpired):
		writeError(w, http.StatusGone, "code_expired", err.Error())
	case errors.Is(err, errPhoneMismatch):
		writeError(w, http.StatusForbidden, "caller_phone_mismatch", err.Error())
	case err != nil:
		writeError(w, http.StatusBadRequest, "invalid_request", err.Error())
	default:
		resp := redeemResponse{SIPConnectionID: redeemed.sipConnectionID}
		if redeemed.callerPhone != "" {
			resp.CallerPhone = &redeemed.callerPhone
		}
		writeJSON(w, http.StatusOK, resp)
	}
}

// redeem uses up code. It checks that the code exists, is unused and has not
// expired, and only then that phoneErr, the error from reading the request's
// callerPhone, is nil and that phone matches the phone the code asserts. Only
// success uses the code up.
func (e *Emulator) redeem(code, phone string, phoneErr error) (issuedCode, error) {
	key, ok := parseCode(code)
	if !ok {
		return issuedCode{}, errCodeNotFound
	}

	now := e.now()
	e.codesMu.Lock()
	defer e.codesMu.Unlock()

	issued, ok := e.codes.get(key)
	switch {
	case !ok:
		return issuedCode{}, errCodeNotFound
	case issued.used:
		return issuedCode{}, errCodeUsed
	case !now.Before(issued.expiresAt):
		return issuedCode{}, errCodeExpired
	case phoneErr != nil:
		return issuedCode{}, phoneErr
	case issued.callerPhone != "" && phone != issued.callerPhone:
		return issuedCode{}, errPhoneMismatch
	}
	e.codes.markUsed(key)
	e.redeemed.Add(1)
	return issued, nil
}

// handleRedeemPreflight responds to a CORS preflight request for redeem, so that
// a page on any origin can redeem codes as the browser SDK would.
func handleRedeemPreflight(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", http.MethodPost)
	h.Set("Access-Control-Allow-Headers", "Content-Type")
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}
