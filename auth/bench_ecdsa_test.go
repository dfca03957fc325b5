package auth_test

import (
	"crypto/ecdsa"
	"math/big"
)

// ecdsaVerifyRS checks a JWS-style (r||s) P-256 signature with crypto's own
// verification, the floor that token verification is compared with.
func ecdsaVerifyRS(pub *ecdsa.PublicKey, digest, sig []byte) bool {
	if len(sig) != 64 {
		return false
	}
	r := new(big.Int).SetBytes(sig[:32])
	s := new(big.Int).SetBytes(sig[32:])
	return ecdsa.Verify(pub, digest, r, s)
}
