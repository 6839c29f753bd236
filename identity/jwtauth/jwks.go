package jwtauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"

	"github.com/c2cauth/c2cauth/identity"
	"github.com/c2cauth/c2cauth/internal/httpstatus"
	"github.com/c2cauth/c2cauth/internal/urls"
)

// MaxKeySetBytes bounds the JSON Web Key Set response that is read. Key
// sets of public identity providers hold a few keys in a few kilobytes.
const MaxKeySetBytes = 256 << 10

// errNotFetched stands for the key set until its first fetch ends.
var errNotFetched = errors.New("key set not fetched yet")

// errTooLarge ends the read of a key set response larger than
// MaxKeySetBytes.
var errTooLarge = fmt.Errorf("key set response is larger than %d bytes", MaxKeySetBytes)

// signingUses are the values of a key's "use" parameter that let it verify
// signatures. Keys marked for encryption never do, while keys without the
// parameter are common and count as signing keys.
var signingUses = []jwkset.USE{jwkset.UseSig, ""}

// keySet fetches an identity provider's JSON Web Key Set, caches it and
// records whether the latest fetch succeeded. A token whose key is missing
// from a current set is invalid, but one whose key may be in a set that
// could not be fetched is not.
type keySet struct {
	// generation counts the fetched key sets, so that tokens verified
	// under an earlier set are verified again.
	generation atomic.Uint64

	keyfunc keyfunc.Keyfunc
	storage jwkset.Storage
	cancel  context.CancelFunc

	// url is the key set URL without its query, for messages.
	url          string
	fetchTimeout time.Duration

	mu       sync.Mutex
	fetchErr error // error of the latest fetch, or nil after a success
}

// keySetOptions are the validated settings of a keySet.
type keySetOptions struct {
	url                       string
	client                    *http.Client
	refreshInterval           time.Duration
	unknownKIDRefreshInterval time.Duration
	fetchTimeout              time.Duration
}

// newKeySet fetches the key set once, waiting up to the fetch timeout, and
// starts refreshing it in the background. A failed first fetch is recorded,
// not returned, so the program starts and fetches again later.
func newKeySet(opts keySetOptions) (*keySet, error) {
	u, err := url.Parse(opts.url)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	ks := &keySet{cancel: cancel, fetchErr: errNotFetched, url: urls.WithoutSecrets(u), fetchTimeout: opts.fetchTimeout}

	remote, err := jwkset.NewStorageFromHTTP(opts.url, jwkset.HTTPClientStorageOptions{
		Client:                    newKeySetClient(opts.client),
		Ctx:                       ctx,
		HTTPTimeout:               opts.fetchTimeout,
		NoErrorReturnFirstHTTPReq: true,
		RefreshErrorHandler:       ks.recordFailure,
		RefreshInterval:           opts.refreshInterval,
		Storage:                   &recordingStorage{Storage: jwkset.NewMemoryStorage(), onReplace: ks.recordSuccess},
	})
	if err != nil {
		cancel()
		return nil, err
	}
	// A token whose key ID is not cached makes the storage fetch the set
	// again, at most once per interval, so rotated keys are found without
	// letting every forged key ID cost a fetch. The refresh shares the
	// fetch timeout with the wait for the limiter.
	storage, err := jwkset.NewHTTPClient(jwkset.HTTPClientOptions{
		HTTPURLs:          map[string]jwkset.Storage{opts.url: remote},
		RateLimitWaitMax:  opts.fetchTimeout,
		RefreshUnknownKID: rate.NewLimiter(rate.Every(opts.unknownKIDRefreshInterval), 1),
	})
	if err != nil {
		cancel()
		return nil, err
	}
	kf, err := keyfunc.New(keyfunc.Options{
		Ctx:          ctx,
		Storage:      storage,
		UseWhitelist: signingUses,
	})
	if err != nil {
		cancel()
		return nil, err
	}
	ks.keyfunc, ks.storage = kf, storage
	return ks, nil
}

// close stops the background refresh.
func (ks *keySet) close() { ks.cancel() }

// keyfuncCtx returns the jwt.Keyfunc for one request. Its errors are all
// *keyLookupError.
func (ks *keySet) keyfuncCtx(ctx context.Context) jwt.Keyfunc {
	lookup := ks.keyfunc.KeyfuncCtx(ctx)
	return func(token *jwt.Token) (any, error) {
		if _, ok := token.Header["kid"]; !ok && ks.empty(ctx) {
			// Only a key ID that is not cached makes the storage fetch
			// again, so a token without one would wait for the periodic
			// refresh. Reading a key ID that no key has starts the same
			// rate-limited fetch.
			ks.storage.KeyRead(ctx, "")
		}
		key, err := lookup(token)
		if err != nil {
			return nil, &keyLookupError{err: err}
		}
		if set, ok := key.(jwt.VerificationKeySet); ok && len(set.Keys) == 0 {
			return nil, &keyLookupError{err: errors.New("no cached key fits the token's algorithm")}
		}
		return key, nil
	}
}

// unavailable returns why the key set cannot be trusted to be complete:
// the latest fetch failed, or it returned no keys. It returns nil when the
// cache is current.
func (ks *keySet) unavailable(ctx context.Context) error {
	ks.mu.Lock()
	err := ks.fetchErr
	ks.mu.Unlock()
	if err != nil {
		return err
	}
	if ks.empty(ctx) {
		return fmt.Errorf("the key set at %s contains no keys", ks.url)
	}
	return nil
}

// check returns how many cached keys can verify a token signed with one of
// algorithms. It returns an error when the latest fetch failed, together
// with the count of the keys still cached from an earlier fetch, or when
// no key is usable.
func (ks *keySet) check(ctx context.Context, algorithms []string) (int, error) {
	keys, err := ks.storage.KeyReadAll(ctx)
	if err != nil {
		return 0, fmt.Errorf("read cached keys: %w", err)
	}
	usable := 0
	for _, key := range keys {
		if usableJWK(key, algorithms) {
			usable++
		}
	}

	ks.mu.Lock()
	fetchErr := ks.fetchErr
	ks.mu.Unlock()
	switch {
	case fetchErr != nil:
		return usable, fetchErr
	case len(keys) == 0:
		return 0, fmt.Errorf("the key set at %s contains no supported keys", ks.url)
	case usable == 0 && len(keys) == 1:
		return 0, fmt.Errorf("the key set at %s contains 1 key, which is not a signing key for %s", ks.url, strings.Join(algorithms, ", "))
	case usable == 0:
		return 0, fmt.Errorf("the key set at %s contains %d keys, but none is a signing key for %s", ks.url, len(keys), strings.Join(algorithms, ", "))
	}
	return usable, nil
}

func (ks *keySet) empty(ctx context.Context) bool {
	keys, err := ks.storage.KeyReadAll(ctx)
	return err != nil || len(keys) == 0
}

func (ks *keySet) recordSuccess() {
	ks.mu.Lock()
	ks.fetchErr = nil
	ks.mu.Unlock()
	ks.generation.Add(1)
}

// recordFailure records a failed fetch. A fetch that ended because the
// visitor's request did, or because the key set was closed, is no sign of
// trouble at the identity provider and is not recorded. The first fetch is
// the exception, because jwkset cancels its context before it reports the
// error. No visitor or Close can end that fetch, since it runs inside New.
func (ks *keySet) recordFailure(ctx context.Context, err error) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if errors.Is(ctx.Err(), context.Canceled) && ks.fetchErr != errNotFetched {
		return
	}
	ks.fetchErr = ks.fetchError(err)
}

// fetchError describes a failed fetch of the key set in a sentence that
// names the URL without its query, in place of jwkset's error text.
func (ks *keySet) fetchError(err error) error {
	if status, ok := errors.AsType[*statusError](err); ok {
		return fmt.Errorf("the key set URL %s responded with %s", ks.url, httpstatus.Text(status.code))
	}
	if errors.Is(err, jwkset.ErrInvalidHTTPStatusCode) {
		// keySetTransport passes only 200 and redirects, so this is a
		// redirect that the client's policy did not follow.
		return fmt.Errorf("the key set URL %s responded with a redirect, which was not followed", ks.url)
	}
	if errors.Is(err, errTooLarge) {
		return fmt.Errorf("the key set at %s is larger than %d bytes", ks.url, MaxKeySetBytes)
	}
	if syntaxErr, ok := errors.AsType[*json.SyntaxError](err); ok {
		return fmt.Errorf("the response of the key set URL %s is not a JSON Web Key Set: %w", ks.url, syntaxErr)
	}
	if typeErr, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		if typeErr.Field == "" {
			return fmt.Errorf("the response of the key set URL %s is not a JSON Web Key Set, because it is a JSON %s", ks.url, typeErr.Value)
		}
		return fmt.Errorf("the response of the key set URL %s is not a JSON Web Key Set, because its member %q is a JSON %s", ks.url, typeErr.Field, typeErr.Value)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("the key set URL %s did not respond within %s: %w", ks.url, ks.fetchTimeout, context.DeadlineExceeded)
	}
	if urlErr, ok := errors.AsType[*url.Error](err); ok {
		// The cause alone, because *url.Error repeats the URL with its query.
		return fmt.Errorf("the request to the key set URL %s failed: %w", ks.url, urlErr.Err)
	}
	return fmt.Errorf("the key set from %s cannot be used: %w", ks.url, err)
}

// recordingStorage reports each successful fetch. jwkset replaces the
// cached keys only after it has fetched and parsed the whole set.
type recordingStorage struct {
	jwkset.Storage
	onReplace func()
}

func (s *recordingStorage) KeyReplaceAll(ctx context.Context, keys []jwkset.JWK) error {
	if err := s.Storage.KeyReplaceAll(ctx, keys); err != nil {
		return err
	}
	s.onReplace()
	return nil
}

// keyLookupError marks a failure to find the key for a token, as opposed
// to a key that does not verify its signature.
type keyLookupError struct{ err error }

func (e *keyLookupError) Error() string { return "find signing key: " + e.err.Error() }
func (e *keyLookupError) Unwrap() error { return e.err }

// newKeySetClient returns a copy of client for jwkset's fetches, with a
// keySetTransport around its transport.
func newKeySetClient(client *http.Client) *http.Client {
	wrapped := *client
	base := wrapped.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	wrapped.Transport = keySetTransport{base: base}
	return &wrapped
}

// keySetTransport makes response bodies fail once they pass
// MaxKeySetBytes, because jwkset decodes the body unbounded. It also turns
// a status other than 200 OK into a *statusError, because jwkset reports
// such a status only as a number in its error text. Redirects pass, so
// that the client follows them by its own policy.
//
// NOTE: Under the http.RoundTripper contract, RoundTrip should not
// interpret the response. This one does, so it serves only jwkset, which
// accepts nothing but 200.
type keySetTransport struct{ base http.RoundTripper }

func (t keySetTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	redirect := resp.StatusCode >= 300 && resp.StatusCode < 400
	if resp.StatusCode != http.StatusOK && !redirect {
		resp.Body.Close()
		return nil, &statusError{code: resp.StatusCode}
	}
	resp.Body = &cappedBody{ReadCloser: resp.Body}
	return resp, nil
}

// statusError is a key set response whose status is not 200 OK.
type statusError struct{ code int }

func (e *statusError) Error() string { return "key set URL responded with " + httpstatus.Text(e.code) }

type cappedBody struct {
	io.ReadCloser
	read int64
}

func (b *cappedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.read += int64(n)
	if b.read > MaxKeySetBytes {
		return 0, errTooLarge
	}
	return n, err
}

// newFetchClient returns the client for key set fetches when the caller
// gives none. Fetches are rare, so it keeps no idle connections, and no
// connection goroutine outlives a fetch.
func newFetchClient() *http.Client {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.DisableKeepAlives = true
	return &http.Client{Transport: transport}
}

// checkKeySetURL accepts https URLs, and http URLs only on a loopback
// host: the key set decides which tokens are genuine, so it must not
// travel where others could change it.
func checkKeySetURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		if urlErr, ok := errors.AsType[*url.Error](err); ok {
			err = urlErr.Err
		}
		return &identity.FieldError{Package: "jwtauth", Fields: []string{"JWKSURL"}, Problem: "is invalid", Err: err}
	}
	switch {
	case u.Host == "":
		return configError("JWKSURL", "%q is not an absolute URL", urls.Echo(raw))
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && urls.IsLoopbackHost(u.Hostname()):
		return nil
	case u.Scheme == "http":
		return configError("JWKSURL", "%q must use https unless its host is loopback", urls.Echo(raw))
	default:
		return configError("JWKSURL", "%q must start with https://", urls.Echo(raw))
	}
}
