package receiver

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Password hashing parameters. The hash format names its algorithm and
// cost, so a later release can raise the cost and still verify old
// hashes.
const (
	// PasswordHashScheme is the first field of every hash HashPassword
	// writes.
	PasswordHashScheme = "pbkdf2-sha256"
	// PasswordIterations is the PBKDF2 cost HashPassword uses: OWASP's
	// recommendation for PBKDF2-HMAC-SHA256 (2023).
	PasswordIterations = 600_000
	// minIterations refuses hashes too cheap to be anything but a mistake
	// (tests use the minimum to stay fast).
	minIterations = 1_000
	// maxIterations refuses hashes whose verification would stall the
	// receiver.
	maxIterations = 100_000_000
	saltLen       = 16
	keyLen        = 32
)

// ErrBadPasswordHash is matched by the error for a password hash that is
// not in HashPassword's format.
var ErrBadPasswordHash = errors.New("not an oclcbot password hash")

// passwordHash is a parsed "pbkdf2-sha256$ITER$SALT$KEY".
type passwordHash struct {
	iter int
	salt []byte
	key  []byte
}

// HashPassword returns a self-describing hash of password for an
// account's password_hash setting:
//
//	pbkdf2-sha256$600000$<salt, base64>$<derived key, base64>
//
// (PBKDF2 with HMAC-SHA-256, PasswordIterations iterations, a random
// 16-byte salt, a 32-byte key; base64 is standard encoding without
// padding). It takes about a quarter of a second on purpose. An empty
// password is refused.
func HashPassword(password string) (string, error) {
	return hashPassword(password, PasswordIterations)
}

func hashPassword(password string, iter int) (string, error) {
	if password == "" {
		return "", errors.New("hash password: the password is empty")
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	key, err := pbkdf2.Key(sha256.New, password, salt, iter, keyLen)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	enc := base64.RawStdEncoding
	return PasswordHashScheme + "$" + strconv.Itoa(iter) + "$" + enc.EncodeToString(salt) + "$" + enc.EncodeToString(key), nil
}

// parsePasswordHash checks and splits a hash. Its errors describe the
// format and never quote the hash.
func parsePasswordHash(s string) (*passwordHash, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 4 || parts[0] != PasswordHashScheme {
		return nil, fmt.Errorf("%w: want %s$ITERATIONS$SALT$KEY (make one with `oclcbot passwd`)", ErrBadPasswordHash, PasswordHashScheme)
	}
	iter, err := strconv.Atoi(parts[1])
	if err != nil || iter < minIterations || iter > maxIterations {
		return nil, fmt.Errorf("%w: the iteration count must be a number from %d to %d", ErrBadPasswordHash, minIterations, maxIterations)
	}
	enc := base64.RawStdEncoding
	salt, err := enc.DecodeString(parts[2])
	if err != nil || len(salt) < 8 {
		return nil, fmt.Errorf("%w: the salt must be at least 8 bytes in unpadded base64", ErrBadPasswordHash)
	}
	key, err := enc.DecodeString(parts[3])
	if err != nil || len(key) < 16 {
		return nil, fmt.Errorf("%w: the key must be at least 16 bytes in unpadded base64", ErrBadPasswordHash)
	}
	return &passwordHash{iter: iter, salt: salt, key: key}, nil
}

// verify derives the key for password and compares it in constant time.
func (h *passwordHash) verify(password string) bool {
	key, err := pbkdf2.Key(sha256.New, password, h.salt, h.iter, len(h.key))
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare(key, h.key) == 1
}

// VerifyPassword reports whether password matches hash (made by
// HashPassword). It costs what hashing cost; an error means hash is not a
// valid hash, and never contains hash or password.
func VerifyPassword(hash, password string) (bool, error) {
	h, err := parsePasswordHash(hash)
	if err != nil {
		return false, err
	}
	return h.verify(password), nil
}
