package emulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
)

// handleAddFault serves POST /emulator/v1/faults.
func (e *Emulator) handleAddFault(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r)
	if err != nil {
		writeReadError(w, err)
		return
	}
	var f Fault
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", "request body is not a fault: "+err.Error())
		return
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		writeError(w, http.StatusBadRequest, "invalid_request", "request body has data after the JSON object")
		return
	}
	if err := e.AddFault(f); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// handleClearFaults serves DELETE /emulator/v1/faults.
func (e *Emulator) handleClearFaults(w http.ResponseWriter, r *http.Request) {
	e.ClearFaults()
	w.WriteHeader(http.StatusNoContent)
}

// handleRevokeTokens serves POST /emulator/v1/revoke-tokens.
func (e *Emulator) handleRevokeTokens(w http.ResponseWriter, r *http.Request) {
	e.RevokeTokens()
	w.WriteHeader(http.StatusNoContent)
}

// handleStats serves GET /emulator/v1/stats.
func (e *Emulator) handleStats(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, e.Stats())
}

// SetClientSecret changes the secret that the token endpoint accepts, as
// "Change Secret" does in Live Hub's IAM pages: the old secret stops working
// at once. Tokens issued before stay valid until they expire or are revoked.
func (e *Emulator) SetClientSecret(secret string) {
	e.secretMu.Lock()
	defer e.secretMu.Unlock()
	e.clientSecret = secret
}
