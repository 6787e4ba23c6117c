package access

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/tokens and the fuzz seed corpora from the generators")

// fixture is one conformance case: a token encoding and what a verifier with
// these parameters must decide. It is the manifest's row format.
type fixture struct {
	Name     string   `json:"name"`
	Want     string   `json:"want"`             // "ok" or the sentinel's Go name, e.g. "ErrExpired"
	Rights   string   `json:"rights,omitempty"` // when Want is "ok"
	Now      int64    `json:"now"`              // Unix seconds
	Doc      string   `json:"doc"`              // base32
	Audience string   `json:"audience"`         // hex
	Root     string   `json:"root"`             // hex
	Tokens   []string `json:"revoked_tokens,omitempty"`
	Keys     []string `json:"revoked_keys,omitempty"`
	enc      []byte
}

// sentinels maps manifest names to errors.
var sentinels = map[string]error{
	"ErrMalformed": ErrMalformed, "ErrTooLarge": ErrTooLarge, "ErrChainTooDeep": ErrChainTooDeep,
	"ErrExpired": ErrExpired, "ErrNotYetValid": ErrNotYetValid, "ErrWrongDocument": ErrWrongDocument,
	"ErrWrongAudience": ErrWrongAudience, "ErrBrokenChain": ErrBrokenChain, "ErrBadSignature": ErrBadSignature,
	"ErrRightsEscalation": ErrRightsEscalation, "ErrLifetimeEscalation": ErrLifetimeEscalation,
	"ErrUnknownRoot": ErrUnknownRoot, "ErrRevoked": ErrRevoked,
	"ErrInsufficientRights": ErrInsufficientRights, "ErrIrrevocable": ErrIrrevocable, "ErrBadLink": ErrBadLink,
}

// unix converts Unix seconds to a time.
func unix(s int64) time.Time { return time.Unix(s, 0) }

// genFixtures builds every conformance case from fixed seeds.
func genFixtures(t *testing.T) []fixture {
	var out []fixture
	add := func(name, want string, rights Rights, tok []byte, aud Key, now time.Time, mod ...func(*fixture)) {
		f := fixture{Name: name, Want: want, Now: now.Unix(), Doc: testDoc.String(),
			Audience: aud.String(), Root: testPub("root").String(), enc: tok}
		if want == "ok" {
			f.Rights = rights.String()
		}
		for _, m := range mod {
			m(&f)
		}
		out = append(out, f)
	}
	ok := func(name string, tok *Token, now time.Time) {
		add(name, "ok", tok.Rights, tok.Encode(), tok.Audience, now)
	}
	bad := func(name, want string, tok *Token, now time.Time, mod ...func(*fixture)) {
		add(name, want, None, tok.Encode(), tok.Audience, now, mod...)
	}
	root := chain(t, Admin, "root", "alice")
	depth4 := chain(t, Write, "root", "a", "b", "c", "d")
	ok("accept-root", root, testEpoch)
	ok("accept-depth4", depth4, testEpoch)
	ok("accept-depth8", chain(t, Comment|Relay, "root", "1", "2", "3", "4", "5", "6", "7", "8"), testEpoch)
	ok("accept-relay-only", mustIssue(t, chain(t, Admin|Relay, "root", "alice"), "alice",
		Grant{Audience: testPub("relay"), Rights: Relay, NotBefore: hours(-1), Expiry: hours(1)}), testEpoch)
	inv, err := NewInvite(root, testKey("alice"), Grant{Rights: Write, NotBefore: hours(-2), Expiry: hours(2)}, newDetReader("fixture-invite"))
	if err != nil {
		t.Fatal(err)
	}
	invited, err := inv.Accept(testPub("bob").PublicKey(), testEpoch, newDetReader("fixture-accept"))
	if err != nil {
		t.Fatal(err)
	}
	ok("accept-invite-derived", invited, testEpoch)
	ok("accept-skew-before-nbf", depth4, hours(-24).Add(-Skew*time.Second))
	ok("accept-skew-after-exp", depth4, hours(24).Add(Skew*time.Second))

	bad("reject-expired", "ErrExpired", depth4, hours(24).Add((Skew+1)*time.Second))
	bad("reject-not-yet-valid", "ErrNotYetValid", depth4, hours(-24).Add(-(Skew+1)*time.Second))
	bad("reject-wrong-document", "ErrWrongDocument", depth4, testEpoch, func(f *fixture) { f.Doc = otherDoc.String() })
	bad("reject-wrong-audience", "ErrWrongAudience", depth4, testEpoch, func(f *fixture) { f.Audience = testPub("c").String() })
	sig := chain(t, Write, "root", "a", "b", "c", "d")
	sig.Parent.Sig[10] ^= 0x40
	bad("reject-bad-signature", "ErrBadSignature", sig, testEpoch)
	esc := chain(t, Write, "root", "a", "b", "c")
	esc.Rights = Admin
	bad("reject-rights-escalation", "ErrRightsEscalation", resign(esc, testKey("b")), testEpoch)
	relayEsc := chain(t, Admin, "root", "a", "b")
	relayEsc.Rights = Write | Relay
	bad("reject-relay-escalation", "ErrRightsEscalation", resign(relayEsc, testKey("a")), testEpoch)
	life := chain(t, Write, "root", "a", "b", "c")
	life.Expiry += 3600
	bad("reject-lifetime-escalation", "ErrLifetimeEscalation", resign(life, testKey("b")), testEpoch)
	broken := chain(t, Write, "root", "a", "b")
	bad("reject-broken-chain", "ErrBrokenChain", resign(broken, testKey("mallory")), testEpoch)
	deep := chain(t, Read, "root", "1", "2", "3", "4", "5", "6", "7", "8")
	deep = resign(&Token{Parent: deep, Audience: testPub("9"), Doc: testDoc, Rights: Read,
		NotBefore: deep.NotBefore, Expiry: deep.Expiry}, testKey("8"))
	bad("reject-chain-too-deep", "ErrChainTooDeep", deep, testEpoch)
	big := append(root.Encode(), make([]byte, MaxTokenSize+1-root.Size())...)
	add("reject-oversized", "ErrTooLarge", None, big, root.Audience, testEpoch)
	bad("reject-unknown-root", "ErrUnknownRoot", chain(t, Write, "mallory", "a", "b"), testEpoch)
	bad("reject-revoked-token", "ErrRevoked", depth4, testEpoch, func(f *fixture) {
		f.Tokens = []string{depth4.Parent.Parent.ID().String()}
	})
	bad("reject-revoked-key", "ErrRevoked", depth4, testEpoch, func(f *fixture) { f.Keys = []string{testPub("b").String()} })
	bad("reject-revoked-invite", "ErrRevoked", invited, testEpoch, func(f *fixture) { f.Tokens = []string{inv.Token.ID().String()} })
	enc := depth4.Encode()
	add("reject-truncated", "ErrMalformed", None, enc[:len(enc)-1], depth4.Audience, testEpoch)
	add("reject-trailing-bytes", "ErrMalformed", None, append(append([]byte(nil), enc...), 0), depth4.Audience, testEpoch)
	v2 := append([]byte(nil), enc...)
	v2[0] = 2
	add("reject-unknown-version", "ErrMalformed", None, v2, depth4.Audience, testEpoch)
	bits := append([]byte(nil), enc...)
	bits[tokenHeader+2+81] |= 0x10 // parent's rights byte
	add("reject-undefined-rights-bits", "ErrMalformed", None, bits, depth4.Audience, testEpoch)
	add("reject-garbage", "ErrMalformed", None, []byte("quire://not-a-token"), depth4.Audience, testEpoch)
	return out
}

// check decodes and verifies f and returns the verdict.
func (f fixture) check() (Rights, error) {
	p, err := f.params()
	if err != nil {
		return None, err
	}
	tok, err := Decode(f.enc)
	if err != nil {
		return None, err
	}
	return Verify(tok, p)
}

// params returns the verifier's parameters f names.
func (f fixture) params() (VerifyParams, error) {
	p := VerifyParams{Now: time.Unix(f.Now, 0)}
	var err error
	if p.Doc, err = ParseDocID(f.Doc); err != nil {
		return p, err
	}
	if p.Audience, err = parseKeyHex(f.Audience); err != nil {
		return p, err
	}
	if p.Root, err = parseKeyHex(f.Root); err != nil {
		return p, err
	}
	set := RevocationSet{Tokens: map[TokenID]bool{}, Keys: map[Key]bool{}}
	for _, s := range f.Tokens {
		k, err := parseKeyHex(s)
		if err != nil {
			return p, err
		}
		set.Tokens[TokenID(k)] = true
	}
	for _, s := range f.Keys {
		k, err := parseKeyHex(s)
		if err != nil {
			return p, err
		}
		set.Keys[k] = true
	}
	p.Revoked = set
	return p, nil
}

func parseKeyHex(s string) (Key, error) {
	var k Key
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(k) {
		return k, fmt.Errorf("key %q: %w", s, ErrMalformed)
	}
	copy(k[:], b)
	return k, nil
}

const fixtureDir = "testdata/tokens"

func TestConformance(t *testing.T) {
	gen := genFixtures(t)
	if *update {
		writeFixtures(t, gen)
	}
	manifest, err := os.ReadFile(filepath.Join(fixtureDir, "manifest.json"))
	if err != nil {
		t.Fatalf("read manifest (run go test -run TestConformance -update to create it): %v", err)
	}
	var fixtures []fixture
	if err := json.Unmarshal(manifest, &fixtures); err != nil {
		t.Fatal(err)
	}
	if got, want := len(fixtures), len(gen); got != want {
		t.Errorf("manifest has %d fixtures, generator %d: run with -update", got, want)
	}
	for i, f := range fixtures {
		t.Run(f.Name, func(t *testing.T) {
			text, err := os.ReadFile(filepath.Join(fixtureDir, f.Name+".hex"))
			if err != nil {
				t.Fatal(err)
			}
			if f.enc, err = hex.DecodeString(strings.TrimSpace(string(text))); err != nil {
				t.Fatal(err)
			}
			if i < len(gen) && !bytes.Equal(f.enc, gen[i].enc) {
				t.Errorf("committed bytes differ from the generator: run with -update and review the diff")
			}
			rights, err := f.check()
			if f.Want == "ok" {
				if err != nil || rights.String() != f.Rights {
					t.Errorf("got %v, %v, want %s", rights, err, f.Rights)
				}
				return
			}
			want, known := sentinels[f.Want]
			if !known {
				t.Fatalf("unknown sentinel %q", f.Want)
			}
			if !errors.Is(err, want) {
				t.Errorf("got %v, want %s", err, f.Want)
			}
		})
	}
}

func writeFixtures(t *testing.T, fixtures []fixture) {
	if err := os.MkdirAll(fixtureDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range fixtures {
		if err := os.WriteFile(filepath.Join(fixtureDir, f.Name+".hex"), []byte(hex.EncodeToString(f.enc)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := json.MarshalIndent(fixtures, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(fixtureDir, "manifest.json"), append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	writeSeeds(t, fixtures)
}

// writeSeeds writes the fuzz seed corpora from the fixtures.
func writeSeeds(t *testing.T, fixtures []fixture) {
	write := func(fuzz, name string, args ...string) {
		dir := filepath.Join("testdata", "fuzz", fuzz)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		body := "go test fuzz v1\n" + strings.Join(args, "\n") + "\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bytesArg := func(b []byte) string { return "[]byte(" + strconv.Quote(string(b)) + ")" }
	for _, f := range fixtures {
		if len(f.enc) > MaxTokenSize {
			continue
		}
		write("FuzzDecodeToken", f.Name, bytesArg(f.enc))
		write("FuzzVerify", f.Name, bytesArg(f.enc), fmt.Sprintf("int64(%d)", f.Now))
	}
	_, inv := newTestInviteFor(t)
	link := inv.String()
	write("FuzzParseInvite", "valid", "string("+strconv.Quote(link)+")")
	write("FuzzParseInvite", "truncated", "string("+strconv.Quote(link[:len(link)/2])+")")
	write("FuzzParseInvite", "scheme", "string("+strconv.Quote("https://join/"+link[len(InvitePrefix):])+")")
	r, err := Revoke(chain(t, Admin, "root", "alice"), testKey("alice"), TargetKey, testPub("bob"), testEpoch)
	if err != nil {
		t.Fatal(err)
	}
	enc := r.Encode()
	write("FuzzDecodeRevocation", "valid", bytesArg(enc))
	write("FuzzDecodeRevocation", "truncated", bytesArg(enc[:len(enc)-3]))
	r2, _ := Revoke(chain(t, Admin, "root", "a", "b"), testKey("b"), TargetToken, TokenID{1, 2, 3}, testEpoch)
	write("FuzzDecodeRevocation", "token-depth2", bytesArg(r2.Encode()))
}
