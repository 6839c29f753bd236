package livehub

// Exported for the tests of package livehub_test.
var (
	ParseErrorBody  = parseErrorBody
	ParseRetryAfter = parseRetryAfter
	RedactBody      = redactBody
)

// WaitForTokenFetch waits until the token request in flight, if any, has
// finished, so a test can check its result and end with no goroutine left.
func WaitForTokenFetch(c *Client) {
	c.mu.Lock()
	fetch := c.inflight
	c.mu.Unlock()
	if fetch != nil {
		<-fetch.done
	}
}
