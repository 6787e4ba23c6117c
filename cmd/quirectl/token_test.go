package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quire-dev/quire/crdt/access"
)

// writeKey writes a deterministic PEM key named name into dir and returns its path.
func writeKey(t *testing.T, dir, name string) string {
	t.Helper()
	seed := sha256.Sum256([]byte("quirectl-token-test:" + name))
	der, err := x509.MarshalPKCS8PrivateKey(ed25519.NewKeyFromSeed(seed[:]))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name+".key")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// seqReader is a deterministic io.Reader for tests.
type seqReader struct{ n byte }

func (r *seqReader) Read(p []byte) (int, error) {
	for i := range p {
		r.n++
		p[i] = r.n
	}
	return len(p), nil
}

var tokenNow = time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)

// runTok runs "quirectl token args..." and returns its exit code and output.
func runTok(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	env := tokenEnv{stdout: &stdout, stderr: &stderr, now: func() time.Time { return tokenNow }, rand: &seqReader{}}
	code := runToken(env, args)
	return code, stdout.String(), stderr.String()
}

func TestTokenCommands(t *testing.T) {
	dir := t.TempDir()
	rootKey, aliceKey, bobKey := writeKey(t, dir, "root"), writeKey(t, dir, "alice"), writeKey(t, dir, "bob")
	doc := access.DocID{1, 2, 3}.String()
	path := func(name string) string { return filepath.Join(dir, name) }

	mustRun := func(args ...string) string {
		t.Helper()
		code, out, errOut := runTok(t, args...)
		if code != 0 {
			t.Fatalf("quirectl token %s: exit %d: %s", strings.Join(args, " "), code, errOut)
		}
		return out
	}
	mustRun("issue", "-key", rootKey, "-to", aliceKey, "-doc", doc, "-rights", "admin", "-for", "48h", "-o", path("alice.tok"))
	mustRun("issue", "-key", aliceKey, "-parent", path("alice.tok"), "-to", bobKey, "-rights", "write", "-o", path("bob.tok"))

	out := mustRun("inspect", "-json", path("bob.tok"))
	var links []struct{ Rights, Audience string }
	if err := json.Unmarshal([]byte(out), &links); err != nil {
		t.Fatalf("inspect -json: %v\n%s", err, out)
	}
	if len(links) != 2 || links[0].Rights != "admin" || links[1].Rights != "write" {
		t.Errorf("inspect -json: got %+v, want admin then write", links)
	}
	if out := mustRun("inspect", path("bob.tok")); !strings.Contains(out, "link 2:") {
		t.Errorf("inspect: got %q, want two links", out)
	}

	if out := mustRun("verify", "-root", rootKey, "-as", bobKey, path("bob.tok")); !strings.HasPrefix(out, "valid: write") {
		t.Errorf("verify: got %q", out)
	}
	code, out, _ := runTok(t, "verify", "-json", "-root", rootKey, "-as", aliceKey, path("bob.tok"))
	if code != 1 || !strings.Contains(out, `"valid": false`) || !strings.Contains(out, "another key") {
		t.Errorf("verify as the wrong key: got exit %d, %q", code, out)
	}
	code, _, _ = runTok(t, "verify", "-root", rootKey, "-as", bobKey, "-at", tokenNow.Add(30*time.Hour).Format(time.RFC3339), path("bob.tok"))
	if code != 1 {
		t.Errorf("verify after expiry: got exit %d, want 1", code)
	}

	// Invite, accept, verify the accepted token.
	link := strings.TrimSpace(mustRun("invite", "-key", aliceKey, "-proof", path("alice.tok"), "-rights", "comment", "-for", "1h"))
	if !strings.HasPrefix(link, access.InvitePrefix) {
		t.Fatalf("invite: got %q", link)
	}
	carolKey := writeKey(t, dir, "carol")
	mustRun("accept", "-key", carolKey, "-o", path("carol.tok"), link)
	if out := mustRun("verify", "-root", rootKey, "-as", carolKey, path("carol.tok")); !strings.HasPrefix(out, "valid: comment") {
		t.Errorf("verify accepted token: got %q", out)
	}
	if code, _, errOut := runTok(t, "accept", "-key", carolKey, "quire://join/AAAA"); code != 1 || !strings.Contains(errOut, "malformed") {
		t.Errorf("accept bad link: got exit %d, %q", code, errOut)
	}

	// Revoke bob's token: the record checks out.
	out = mustRun("revoke", "-json", "-key", aliceKey, "-proof", path("alice.tok"), "-token", path("bob.tok"), "-o", path("bob.rev"))
	var rec struct{ Record, Kind, Target string }
	if err := json.Unmarshal([]byte(out), &rec); err != nil {
		t.Fatalf("revoke -json: %v\n%s", err, out)
	}
	bob, err := readToken(path("bob.tok"))
	if err != nil {
		t.Fatal(err)
	}
	if id := bob.ID(); rec.Kind != "token" || rec.Target != hex.EncodeToString(id[:]) {
		t.Errorf("revoke: got %+v, want token %x", rec, id)
	}
	blob, err := readBlob(path("bob.rev"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := access.DecodeRevocation(blob)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := readPublicKey(rootKey)
	if err := r.Check(bob.Doc, root); err != nil {
		t.Errorf("revocation Check: %v", err)
	}
	// A writer cannot revoke.
	if code, _, errOut := runTok(t, "revoke", "-key", bobKey, "-proof", path("bob.tok"), "-device", aliceKey); code != 1 || !strings.Contains(errOut, "insufficient") {
		t.Errorf("revoke by a writer: got exit %d, %q", code, errOut)
	}
}

func TestTokenUsage(t *testing.T) {
	tests := []struct {
		args []string
		want int
	}{
		{nil, 2},
		{[]string{"-h"}, 0},
		{[]string{"frob"}, 2},
		{[]string{"issue"}, 2},
		{[]string{"verify", "x"}, 2},
		{[]string{"revoke", "-key", "k", "-proof", "p"}, 2},
		{[]string{"inspect", "-bogus"}, 2},
	}
	for _, tt := range tests {
		if got, _, _ := runTok(t, tt.args...); got != tt.want {
			t.Errorf("quirectl token %v: got exit %d, want %d", tt.args, got, tt.want)
		}
	}
}

func TestTokenDispatch(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"token", "inspect", "-h"}, &stdout, &stderr); code != 0 {
		t.Errorf("quirectl token inspect -h: got exit %d, want 0 (%s)", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "usage: quirectl token inspect") {
		t.Errorf("quirectl token inspect -h: got %q", stderr.String())
	}
	stdout.Reset()
	if code := run(t.Context(), []string{"help"}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "token ") {
		t.Errorf("quirectl help: got exit %d, %q, want the token command listed", code, stdout.String())
	}
}
