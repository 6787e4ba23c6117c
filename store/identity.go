package store

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// IdentityFile is the name of the device identity key file inside a data
// directory. It holds one PEM "PRIVATE KEY" block (PKCS #8, Ed25519) and is
// readable by its owner only.
const IdentityFile = "identity.key"

// ErrKeyPermissions is returned when an identity key file can be read by
// users other than its owner.
var ErrKeyPermissions = errors.New("identity key file is accessible by group or others")

// LoadOrCreateIdentity returns the Ed25519 identity key stored in dir,
// creating dir (mode 0700) and a new key (mode 0600) on first use.
// A key file that others may read, or that does not hold an Ed25519 key,
// is an error rather than being replaced. Safe to call from several
// processes at once: exactly one key is created.
func LoadOrCreateIdentity(dir string) (ed25519.PrivateKey, error) {
	path := filepath.Join(dir, IdentityFile)
	key, err := loadIdentity(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate identity key: %w", err)
	}
	if err := writeIdentity(path, priv); err != nil {
		if errors.Is(err, fs.ErrExist) {
			// Another process created the key first: use theirs.
			return loadIdentity(path)
		}
		return nil, err
	}
	return priv, nil
}

// loadIdentity reads and checks the key file at path.
func loadIdentity(path string) (ed25519.PrivateKey, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("identity key %s: %w", path, err)
	}
	if info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("identity key %s has mode %v: %w", path, info.Mode().Perm(), ErrKeyPermissions)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read identity key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("identity key %s: no PEM PRIVATE KEY block", path)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("identity key %s: %w", path, err)
	}
	key, ok := parsed.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("identity key %s: %T is not an Ed25519 key", path, parsed)
	}
	return key, nil
}

// writeIdentity stores key at path without ever replacing an existing file:
// it writes and syncs a temporary file, then hard-links it into place, so a
// reader sees either no key or a complete one.
func writeIdentity(path string, key ed25519.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("encode identity key: %w", err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".identity-*.tmp") // mode 0600
	if err != nil {
		return fmt.Errorf("write identity key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write identity key: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sync identity key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write identity key: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return fmt.Errorf("install identity key: %w", err)
	}
	return syncDir(dir)
}

// syncDir makes a new directory entry in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
