package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestLoadOrCreateIdentity(t *testing.T) {
	t.Run("create then reuse", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "nested", "data")
		first, err := LoadOrCreateIdentity(dir)
		if err != nil {
			t.Fatal(err)
		}
		info, err := os.Stat(filepath.Join(dir, IdentityFile))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := info.Mode().Perm(), os.FileMode(0o600); got != want {
			t.Errorf("key file mode = %v, want %v", got, want)
		}
		second, err := LoadOrCreateIdentity(dir)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first, second) {
			t.Error("second load returned a different key")
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 1 {
			t.Errorf("data directory holds %d entries, want only the key file", len(entries))
		}
	})

	t.Run("refuses readable key", func(t *testing.T) {
		dir := t.TempDir()
		if _, err := LoadOrCreateIdentity(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Join(dir, IdentityFile), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := LoadOrCreateIdentity(dir)
		if !errors.Is(err, ErrKeyPermissions) {
			t.Errorf("err = %v, want ErrKeyPermissions", err)
		}
	})

	t.Run("refuses garbage", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, IdentityFile)
		if err := os.WriteFile(path, []byte("not a key"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadOrCreateIdentity(dir); err == nil {
			t.Error("loaded a key from garbage")
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if string(data) != "not a key" {
			t.Error("garbage key file was overwritten")
		}
	})

	t.Run("concurrent creators agree", func(t *testing.T) {
		dir := t.TempDir()
		const n = 8
		keys := make([][]byte, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { keys[i], errs[i] = LoadOrCreateIdentity(dir) })
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("creator %d: %v", i, errs[i])
			}
			if !bytes.Equal(keys[i], keys[0]) {
				t.Fatalf("creator %d got a different key", i)
			}
		}
	})
}
