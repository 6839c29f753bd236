module github.com/c2cauth/c2cauth

go 1.26.8

require (
	github.com/nyaruka/phonenumbers v1.8.1
	golang.org/x/oauth2 v0.38.0
)

require (
	golang.org/x/text v0.23.0 // indirect
	google.golang.org/protobuf v1.36.11 // indirect
)
