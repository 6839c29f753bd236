package emulator_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/c2cauth/c2cauth/emulator"
)

// serve sends one request straight to e's ServeHTTP.
func serve(e *emulator.Emulator, method, path, contentType, body string, header http.Header) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	for name, values := range header {
		req.Header[name] = values
	}
	req.Header.Set("Content-Type", contentType)
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	return rec
}

// FuzzRequestBody sends arbitrary bodies to generate and redeem. Each must get
// an expected status and a JSON body, never a panic or a 500.
func FuzzRequestBody(f *testing.F) {
	const connection = "f399069f-e84f-41e4-ac71-fab2ded73f1c"
	e := emulator.New(emulator.Config{ClientID: "id", ClientSecret: "secret", SIPConnections: []string{connection}})
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"id"}, "client_secret": {"secret"}}.Encode()
	rec := serve(e, http.MethodPost, "/oauth/token", "application/x-www-form-urlencoded", form, nil)
	var token struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &token); err != nil || token.AccessToken == "" {
		f.Fatalf("token: got status %d, body %s", rec.Code, rec.Body)
	}
	auth := http.Header{"Authorization": {"Bearer " + token.AccessToken}}
	generatePath := "/api/v1/sipConnections/" + connection + "/generateAuthenticationCode"

	rec = serve(e, http.MethodPost, generatePath, "application/json", `{"callerPhone":"+123456789"}`, auth)
	var issued struct {
		AuthenticationCode string `json:"authenticationCode"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &issued); err != nil {
		f.Fatalf("generate: got status %d, body %s", rec.Code, rec.Body)
	}

	for _, seed := range []string{
		``,
		`{}`,
		`null`,
		`[]`,
		`{"callerPhone":"+123456789"}`,
		`{"callerPhone":"+0"}`,
		`{"callerPhone":null}`,
		`{"callerPhone":["+1234"]}`,
		`{"authenticationCode":"` + issued.AuthenticationCode + `"}`,
		`{"authenticationCode":"` + issued.AuthenticationCode + `","callerPhone":"+123456789"}`,
		`{"authenticationCode":"LHv1_00000000000000000000000000000000","callerPhone":"+1"}`,
		`{"authenticationCode":1e999}`,
		"{\"callerPhone\":\"+1\u0000\"}",
		`{"a":{"b":{"c":[1,2,{"d":"\ud800"}]}}}`,
		`{} trailing`,
	} {
		f.Add(seed)
	}

	f.Fuzz(func(t *testing.T, body string) {
		rec := serve(e, http.MethodPost, generatePath, "application/json", body, auth)
		checkFuzzResponse(t, "generate", rec, http.StatusOK, http.StatusBadRequest)
		if rec.Code == http.StatusOK {
			var got struct {
				AuthenticationCode string `json:"authenticationCode"`
			}
			json.Unmarshal(rec.Body.Bytes(), &got)
			if !codePattern.MatchString(got.AuthenticationCode) {
				t.Errorf("generate: got code %q, want a match for %s", got.AuthenticationCode, codePattern)
			}
		}

		rec = serve(e, http.MethodPost, "/emulator/v1/redeem", "application/json", body, nil)
		checkFuzzResponse(t, "redeem", rec, http.StatusOK, http.StatusBadRequest, http.StatusForbidden,
			http.StatusNotFound, http.StatusConflict, http.StatusGone)
		if rec.Code == http.StatusOK {
			var got map[string]json.RawMessage
			json.Unmarshal(rec.Body.Bytes(), &got)
			_, hasConnection := got["sipConnectionId"]
			_, hasPhone := got["callerPhone"]
			if len(got) != 2 || !hasConnection || !hasPhone {
				t.Errorf("redeem: got body %s, want sipConnectionId and callerPhone", rec.Body)
			}
		}
	})
}

// FuzzFaultBody sends arbitrary bodies to the fault control. Only requests to
// the control are made, so no accepted fault can delay the fuzzing.
func FuzzFaultBody(f *testing.F) {
	e := emulator.New(emulator.Config{ClientID: "id", ClientSecret: "secret"})
	for _, seed := range []string{
		`{"endpoint":"all","status":503,"count":2,"latencyMs":0,"retryAfter":0}`,
		`{"endpoint":"token","status":429,"retryAfter":5}`,
		`{"endpoint":"token","latencyMs":9223372036854775807}`,
		`{"endpoint":"redeem","count":-1}`,
		`{"endpoint":"x"}`,
		`{"status":1.5}`,
		`null`,
		``,
	} {
		f.Add(seed)
	}

	f.Fuzz(func(t *testing.T, body string) {
		rec := serve(e, http.MethodPost, "/emulator/v1/faults", "application/json", body, nil)
		if rec.Code == http.StatusNoContent {
			e.ClearFaults()
			return
		}
		checkFuzzResponse(t, "faults", rec, http.StatusBadRequest)
	})
}

// checkFuzzResponse checks that rec has one of the allowed statuses and a JSON
// object body.
func checkFuzzResponse(t *testing.T, endpoint string, rec *httptest.ResponseRecorder, allowed ...int) {
	t.Helper()
	if !slices.Contains(allowed, rec.Code) {
		t.Errorf("%s: got status %d, want one of %v, body %s", endpoint, rec.Code, allowed, rec.Body)
	}
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Errorf("%s: got body %q, want a JSON object: %v", endpoint, rec.Body, err)
	}
}
