package jwtauth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/MicahParks/jwkset"

	"github.com/c2cauth/c2cauth/identity"
)

// keyType is the kind of key an algorithm verifies with.
type keyType int

const (
	keyRSA keyType = iota + 1
	keyP256
	keyP384
	keyP521
	keyEd25519
	keyHMAC
)

func (k keyType) String() string {
	switch k {
	case keyRSA:
		return "RSA"
	case keyP256:
		return "ECDSA P-256"
	case keyP384:
		return "ECDSA P-384"
	case keyP521:
		return "ECDSA P-521"
	case keyEd25519:
		return "Ed25519"
	case keyHMAC:
		return "HMAC secret"
	default:
		return "unknown"
	}
}

// algorithmKeys maps every supported "alg" name to the key it needs.
// "none" is deliberately absent.
var algorithmKeys = map[string]keyType{
	"RS256": keyRSA,
	"RS384": keyRSA,
	"RS512": keyRSA,
	"PS256": keyRSA,
	"PS384": keyRSA,
	"PS512": keyRSA,
	"ES256": keyP256,
	"ES384": keyP384,
	"ES512": keyP521,
	"EdDSA": keyEd25519,
	"HS256": keyHMAC,
	"HS384": keyHMAC,
	"HS512": keyHMAC,
}

// defaultAlgorithm is the algorithm allowed with a static key when
// Config.Algorithms is empty.
var defaultAlgorithm = map[keyType]string{
	keyRSA:     "RS256",
	keyP256:    "ES256",
	keyP384:    "ES384",
	keyP521:    "ES512",
	keyEd25519: "EdDSA",
	keyHMAC:    "HS256",
}

// minHMACSecretBytes is the shortest secret each HMAC algorithm accepts:
// RFC 7518, section 3.2, requires a key at least as long as the hash output.
var minHMACSecretBytes = map[string]int{
	"HS256": 32,
	"HS384": 48,
	"HS512": 64,
}

// minRSABits is the smallest RSA modulus accepted in a static key.
const minRSABits = 2048

// acceptedPEM lists the PEM blocks that parsePublicKey accepts, for its
// errors.
const acceptedPEM = `one PEM public key ("-----BEGIN PUBLIC KEY-----" or "-----BEGIN RSA PUBLIC KEY-----") or certificate ("-----BEGIN CERTIFICATE-----")`

// parsePublicKey reads the single PEM block in data: a "PUBLIC KEY"
// (PKIX), an "RSA PUBLIC KEY" (PKCS #1) or a "CERTIFICATE", whose dates are
// not checked because only its key is used.
func parsePublicKey(data []byte) (any, keyType, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, 0, errors.New("no PEM block found; it must hold " + acceptedPEM)
	}
	if next, _ := pem.Decode(rest); next != nil {
		return nil, 0, errors.New("more than one PEM block; give exactly one public key")
	}

	var key any
	var err error
	switch block.Type {
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		cert, err = x509.ParseCertificate(block.Bytes)
		if err == nil {
			key = cert.PublicKey
		}
	default:
		if strings.Contains(block.Type, "PRIVATE KEY") {
			return nil, 0, fmt.Errorf("PEM block %q is a private key; give the public key only", block.Type)
		}
		return nil, 0, fmt.Errorf("PEM block %q is not a public key or certificate; it must hold %s", block.Type, acceptedPEM)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("parse PEM block %q: %w", block.Type, err)
	}

	kind, err := publicKeyType(key)
	if err != nil {
		return nil, 0, err
	}
	if k, ok := key.(*rsa.PublicKey); ok {
		if bits := k.N.BitLen(); bits < minRSABits {
			return nil, 0, fmt.Errorf("RSA key has %d bits, want at least %d", bits, minRSABits)
		}
	}
	return key, kind, nil
}

// publicKeyType returns the type of a public key, or an error when no
// supported algorithm verifies with it.
func publicKeyType(key any) (keyType, error) {
	switch k := key.(type) {
	case *rsa.PublicKey:
		return keyRSA, nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return keyP256, nil
		case elliptic.P384():
			return keyP384, nil
		case elliptic.P521():
			return keyP521, nil
		}
		return 0, fmt.Errorf("ECDSA curve %s is not supported", k.Curve.Params().Name)
	case ed25519.PublicKey:
		return keyEd25519, nil
	default:
		return 0, fmt.Errorf("%T keys are not supported", key)
	}
}

// usableJWK reports whether jwk can verify a token signed with one of
// algorithms, by the rules Authenticate applies to a key from a key set.
// Its "use" must be one of signingUses and its type must fit an algorithm.
// Its "alg" parameter, when present, must be that algorithm.
func usableJWK(jwk jwkset.JWK, algorithms []string) bool {
	params := jwk.Marshal()
	if !slices.Contains(signingUses, params.USE) {
		return false
	}
	key := jwk.Key()
	if private, ok := key.(interface{ Public() crypto.PublicKey }); ok {
		key = private.Public()
	}
	kind, err := publicKeyType(key)
	if err != nil {
		return false
	}
	for _, alg := range algorithms {
		if algorithmKeys[alg] == kind && (params.ALG == "" || params.ALG.String() == alg) {
			return true
		}
	}
	return false
}

// checkAlgorithms validates the allow-list for the key source and returns
// one problem per bad entry. Whether an algorithm fits is checked only when
// the source is known.
func checkAlgorithms(algorithms []string, source keySource) []error {
	var problems []error
	for _, alg := range algorithms {
		need, known := algorithmKeys[alg]
		switch {
		case strings.EqualFold(alg, "none"):
			problems = append(problems, configError("Algorithms", "contains %q, which accepts unsigned tokens and is never allowed", alg))
		case !known:
			problems = append(problems, configError("Algorithms", "contains %q, which is not a supported algorithm", alg))
		case source.field == "":
		case source.field == "JWKSURL":
			if need == keyHMAC {
				problems = append(problems, &identity.FieldError{
					Package: "jwtauth",
					Fields:  []string{"Algorithms", "JWKSURL"},
					Problem: fmt.Sprintf("do not fit together, because %q is an HMAC algorithm, which needs a shared secret instead of a key set", alg),
				})
			}
		case need != source.kind:
			problems = append(problems, &identity.FieldError{
				Package: "jwtauth",
				Fields:  []string{"Algorithms", source.field},
				Problem: fmt.Sprintf("do not fit together, because %q needs a key of type %s, not %s", alg, need, source.kind),
			})
		}
	}
	return problems
}
