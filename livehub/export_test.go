package livehub

// Exported for the tests of package livehub_test.
var (
	ParseErrorBody  = parseErrorBody
	ParseRetryAfter = parseRetryAfter
	RedactBody      = redactBody
)
