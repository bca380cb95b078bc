package andon

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
)

// Receipts are signed with an ed25519 key the receiver holds: whoever can
// write the database but not read the key cannot rewrite history, because
// 'receipts verify --public-key' checks every signature. A receipt names its
// key by id, so keys can rotate: verify with every public key in use.
// Keys are files in the standard formats (PKCS#8 and PKIX PEM), so openssl
// reads them too.

// Signer signs receipts with one private key.
type Signer struct {
	KeyID string
	key   ed25519.PrivateKey
}

// KeyID names a public key: the first 16 hex digits of its SHA-256.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// GenerateKey writes a new private key to path (mode 0600, never over an
// existing file) and its public key to path.pub, and returns the key id.
func GenerateKey(path string) (string, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return "", err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	if err := writeExclusive(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return "", fmt.Errorf("signing key: %w", err)
	}
	if err := writeExclusive(path+".pub", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644); err != nil {
		return "", fmt.Errorf("public key: %w", err)
	}
	return KeyID(pub), nil
}

// writeExclusive creates path with b; an existing file is an error, never overwritten.
func writeExclusive(path string, b []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}

// LoadSigner reads a private key file. A key readable by group or others is
// refused, as ssh does: anyone who can read it can forge receipts.
func LoadSigner(path string) (*Signer, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("signing key %s is readable by others (mode %#o): chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	key, err := ParsePrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	return &Signer{KeyID: KeyID(key.Public().(ed25519.PublicKey)), key: key}, nil
}

// ParsePrivateKey decodes a PEM "PRIVATE KEY" (PKCS#8) holding an ed25519 key.
func ParsePrivateKey(b []byte) (ed25519.PrivateKey, error) {
	der, err := pemBlock(b, "PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("not a PKCS#8 private key: %w", err)
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("a %T, not an ed25519 key: create one with 'andon keygen FILE'", k)
	}
	return ek, nil
}

// ParsePublicKey decodes a PEM "PUBLIC KEY" (PKIX) holding an ed25519 key.
func ParsePublicKey(b []byte) (ed25519.PublicKey, error) {
	der, err := pemBlock(b, "PUBLIC KEY")
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("not a PKIX public key: %w", err)
	}
	ek, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("a %T, not an ed25519 key: use the .pub file 'andon keygen' wrote", k)
	}
	return ek, nil
}

func pemBlock(b []byte, typ string) ([]byte, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("no PEM block: expected -----BEGIN %s-----", typ)
	}
	if blk.Type != typ {
		return nil, fmt.Errorf("PEM block %q: expected %q", blk.Type, typ)
	}
	return blk.Bytes, nil
}

// Keyring holds the public keys receipts may be signed with, by key id.
type Keyring map[string]ed25519.PublicKey

// LoadKeyring reads public key files (one key each).
func LoadKeyring(paths []string) (Keyring, error) {
	k := Keyring{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("public key: %w", err)
		}
		pub, err := ParsePublicKey(b)
		if err != nil {
			return nil, fmt.Errorf("public key %s: %w", p, err)
		}
		k[KeyID(pub)] = pub
	}
	return k, nil
}

func (k Keyring) ids() string {
	ids := make([]string, 0, len(k))
	for id := range k {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return strings.Join(ids, ", ")
}

// signedMessage is what a signature covers: the receipt's hash, which covers
// every other field (prev_hash included), behind a domain-separating prefix.
func signedMessage(hash string) []byte { return []byte("andon-receipt-v1:" + hash) }

// seal sets r's key id, hash and signature (s may be nil: unsigned).
func (s *Signer) seal(r *Receipt) {
	if s != nil {
		r.KeyID = s.KeyID
	}
	r.Hash = r.ComputeHash()
	if s != nil {
		r.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(s.key, signedMessage(r.Hash)))
	}
}

// checkSignature says what is wrong with r's signature under k ("" = valid).
func (k Keyring) checkSignature(r Receipt) string {
	if r.Signature == "" || r.KeyID == "" {
		return "not signed: whoever wrote it held no signing key"
	}
	pub, ok := k[r.KeyID]
	if !ok {
		return fmt.Sprintf("signed with key %s, which is not among the --public-key keys (%s)", r.KeyID, k.ids())
	}
	sig, err := base64.StdEncoding.DecodeString(r.Signature)
	if err != nil || !ed25519.Verify(pub, signedMessage(r.Hash), sig) {
		return fmt.Sprintf("signature does not verify with key %s: the receipt was rewritten without the key", r.KeyID)
	}
	return ""
}

// ErrKeyRequired: the chain is signed and the writer holds no key; an
// unsigned receipt would break verification, so nothing is written.
var ErrKeyRequired = errors.New("this ledger's receipts are signed: pass the signing key (--signing-key, or signing_key_file in the webhook config)")
