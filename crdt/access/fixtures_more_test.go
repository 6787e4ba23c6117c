package access

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// recordFixture is a conformance case for revocation records: the record
// (hex) and what Check on document Doc with root Root must return.
type recordFixture struct {
	Name   string `json:"name"`
	Want   string `json:"want"` // "ok" or a sentinel's Go name
	Doc    string `json:"doc"`
	Root   string `json:"root"`
	Record string `json:"record"` // hex
}

// inviteFixture is a conformance case for invite links: ParseInvite, then
// Accept at Now for device Device, must return Want; on success the
// accepted token must verify with Rights.
type inviteFixture struct {
	Name   string `json:"name"`
	Want   string `json:"want"`
	Link   string `json:"link"`
	Now    int64  `json:"now"`
	Device string `json:"device"`
	Root   string `json:"root"`
	Rights string `json:"rights,omitempty"`
}

func genRecordFixtures(t *testing.T) []recordFixture {
	admin := chain(t, Admin, "root", "alice")
	writer := chain(t, Write, "root", "bob")
	var out []recordFixture
	add := func(name, want string, r *Revocation, enc []byte) {
		if enc == nil {
			enc = r.Encode()
		}
		out = append(out, recordFixture{Name: name, Want: want, Doc: testDoc.String(), Root: testPub("root").String(), Record: hex.EncodeToString(enc)})
	}
	rk, err := Revoke(admin, testKey("alice"), TargetKey, testPub("bob"), testEpoch)
	if err != nil {
		t.Fatal(err)
	}
	add("accept-revoke-key", "ok", rk, nil)
	rt, err := Revoke(admin, testKey("alice"), TargetToken, writer.ID(), testEpoch)
	if err != nil {
		t.Fatal(err)
	}
	add("accept-revoke-token", "ok", rt, nil)
	byRoot, err := Revoke(chain(t, Admin, "root", "root"), testKey("root"), TargetKey, testPub("alice"), testEpoch)
	if err != nil {
		t.Fatal(err)
	}
	add("accept-root-revokes-admin", "ok", byRoot, nil)
	w := &Revocation{Doc: testDoc, Kind: TargetKey, Target: testPub("carol"), At: testEpoch.Unix(), Proof: writer}
	copy(w.Sig[:], signWith(testKey("bob"), revocationDomain, w.appendBody(nil)))
	add("reject-revoker-not-admin", "ErrInsufficientRights", w, nil)
	late, _ := Revoke(admin, testKey("alice"), TargetKey, testPub("bob"), hours(48))
	add("reject-revoker-expired", "ErrExpired", late, nil)
	rootKey, _ := Revoke(admin, testKey("alice"), TargetKey, testPub("root"), testEpoch)
	add("reject-root-key", "ErrIrrevocable", rootKey, nil)
	tampered, _ := Revoke(admin, testKey("alice"), TargetKey, testPub("bob"), testEpoch)
	tampered.Target[31] ^= 1
	add("reject-bad-signature", "ErrBadSignature", tampered, nil)
	enc := rk.Encode()
	add("reject-truncated", "ErrMalformed", nil, enc[:len(enc)-1])
	kind := append([]byte(nil), enc...)
	kind[17] = 0
	add("reject-unknown-kind", "ErrMalformed", nil, kind)
	return out
}

func genInviteFixtures(t *testing.T) []inviteFixture {
	admin := chain(t, Admin, "root", "alice")
	inv, err := NewInvite(admin, testKey("alice"), Grant{Rights: Comment, NotBefore: hours(-1), Expiry: hours(1)}, newDetReader("invite-fixture"))
	if err != nil {
		t.Fatal(err)
	}
	link := inv.String()
	var out []inviteFixture
	add := func(name, want, link string, now int64, rights string) {
		out = append(out, inviteFixture{Name: name, Want: want, Link: link, Now: now, Device: testPub("bob").String(),
			Root: testPub("root").String(), Rights: rights})
	}
	add("accept-valid", "ok", link, testEpoch.Unix(), "comment")
	add("accept-skew", "ok", link, hours(1).Unix()+Skew, "comment")
	add("reject-expired", "ErrExpired", link, hours(1).Unix()+Skew+1, "")
	add("reject-scheme", "ErrBadLink", "https://join/"+strings.TrimPrefix(link, InvitePrefix), testEpoch.Unix(), "")
	add("reject-truncated", "ErrMalformed", link[:len(link)-3], testEpoch.Unix(), "")
	add("reject-padding", "ErrMalformed", link+"=", testEpoch.Unix(), "")
	raw, _ := linkEnc.DecodeString(strings.TrimPrefix(link, InvitePrefix))
	raw[1] ^= 1
	add("reject-wrong-document", "ErrWrongDocument", InvitePrefix+linkEnc.EncodeToString(raw), testEpoch.Unix(), "")
	return out
}

func TestRecordConformance(t *testing.T) {
	path := filepath.Join("testdata", "records.json")
	gen := genRecordFixtures(t)
	if *update {
		writeJSON(t, path, gen)
	}
	var fixtures []recordFixture
	readJSON(t, path, &fixtures)
	if got, want := len(fixtures), len(gen); got != want {
		t.Errorf("%s has %d fixtures, generator %d: run with -update", path, got, want)
	}
	for i, f := range fixtures {
		t.Run(f.Name, func(t *testing.T) {
			if i < len(gen) && gen[i] != f {
				t.Errorf("committed fixture differs from the generator: run with -update and review the diff")
			}
			err := func() error {
				b, err := hex.DecodeString(f.Record)
				if err != nil {
					return err
				}
				doc, err := ParseDocID(f.Doc)
				if err != nil {
					return err
				}
				root, err := parseKeyHex(f.Root)
				if err != nil {
					return err
				}
				r, err := DecodeRevocation(b)
				if err != nil {
					return err
				}
				return r.Check(doc, root)
			}()
			checkVerdict(t, err, f.Want)
		})
	}
}

func TestInviteConformance(t *testing.T) {
	path := filepath.Join("testdata", "invites.json")
	gen := genInviteFixtures(t)
	if *update {
		writeJSON(t, path, gen)
	}
	var fixtures []inviteFixture
	readJSON(t, path, &fixtures)
	if got, want := len(fixtures), len(gen); got != want {
		t.Errorf("%s has %d fixtures, generator %d: run with -update", path, got, want)
	}
	for i, f := range fixtures {
		t.Run(f.Name, func(t *testing.T) {
			if i < len(gen) && gen[i] != f {
				t.Errorf("committed fixture differs from the generator: run with -update and review the diff")
			}
			dev, err := parseKeyHex(f.Device)
			if err != nil {
				t.Fatal(err)
			}
			root, err := parseKeyHex(f.Root)
			if err != nil {
				t.Fatal(err)
			}
			now := unix(f.Now)
			tok, err := Accept(f.Link, dev.PublicKey(), now, newDetReader("accept"))
			if err == nil {
				var rights Rights
				rights, err = Verify(tok, VerifyParams{Doc: tok.Doc, Root: root, Audience: dev, Now: now})
				if err == nil && rights.String() != f.Rights {
					t.Errorf("got rights %v, want %s", rights, f.Rights)
				}
			}
			checkVerdict(t, err, f.Want)
		})
	}
}

// checkVerdict fails t unless err matches want ("ok" or a sentinel's name).
func checkVerdict(t *testing.T, err error, want string) {
	t.Helper()
	if want == "ok" {
		if err != nil {
			t.Errorf("got %v, want ok", err)
		}
		return
	}
	s, known := sentinels[want]
	if !known {
		t.Fatalf("unknown sentinel %q", want)
	}
	if !errors.Is(err, s) {
		t.Errorf("got %v, want %s", err, want)
	}
}

func writeJSON(t *testing.T, path string, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readJSON(t *testing.T, path string, v any) {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s (run with -update to create it): %v", path, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
