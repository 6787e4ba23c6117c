package access

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"testing"
	"time"
)

func TestVerify(t *testing.T) {
	base := func(tok *Token) VerifyParams {
		return VerifyParams{Doc: testDoc, Root: testPub("root"), Audience: tok.Audience, Now: testEpoch}
	}
	tests := []struct {
		name    string
		tok     func(t *testing.T) *Token
		params  func(VerifyParams) VerifyParams
		want    Rights
		wantErr error
	}{
		{name: "root", tok: func(t *testing.T) *Token { return chain(t, Admin, "root", "alice") }, want: Admin},
		{name: "root to itself", tok: func(t *testing.T) *Token { return chain(t, Admin|Relay, "root", "root") }, want: Admin | Relay},
		{name: "depth 4", tok: func(t *testing.T) *Token { return chain(t, Write, "root", "a", "b", "c", "d") }, want: Write},
		{name: "depth 8", tok: func(t *testing.T) *Token {
			return chain(t, Read, "root", "1", "2", "3", "4", "5", "6", "7", "8")
		}, want: Read},
		{name: "narrowing", tok: func(t *testing.T) *Token {
			p := chain(t, Admin|Relay, "root", "a")
			return mustIssue(t, p, "a", Grant{Audience: testPub("b"), Rights: Comment, NotBefore: hours(-1), Expiry: hours(1)})
		}, want: Comment},
		{name: "relay only", tok: func(t *testing.T) *Token {
			p := chain(t, Admin|Relay, "root", "a")
			return mustIssue(t, p, "a", Grant{Audience: testPub("relay"), Rights: Relay, NotBefore: hours(-1), Expiry: hours(1)})
		}, want: Relay},
		{name: "skew before nbf", tok: func(t *testing.T) *Token { return chain(t, Read, "root", "a") },
			params: func(p VerifyParams) VerifyParams { p.Now = hours(-24).Add(-60 * time.Second); return p }, want: Read},
		{name: "skew after exp", tok: func(t *testing.T) *Token { return chain(t, Read, "root", "a") },
			params: func(p VerifyParams) VerifyParams { p.Now = hours(24).Add(60 * time.Second); return p }, want: Read},
		{name: "not yet valid", tok: func(t *testing.T) *Token { return chain(t, Read, "root", "a") },
			params:  func(p VerifyParams) VerifyParams { p.Now = hours(-24).Add(-61 * time.Second); return p },
			wantErr: ErrNotYetValid},
		{name: "expired", tok: func(t *testing.T) *Token { return chain(t, Read, "root", "a") },
			params:  func(p VerifyParams) VerifyParams { p.Now = hours(24).Add(61 * time.Second); return p },
			wantErr: ErrExpired},
		{name: "wrong document", tok: func(t *testing.T) *Token { return chain(t, Read, "root", "a") },
			params:  func(p VerifyParams) VerifyParams { p.Doc = otherDoc; return p },
			wantErr: ErrWrongDocument},
		{name: "wrong audience", tok: func(t *testing.T) *Token { return chain(t, Read, "root", "a") },
			params:  func(p VerifyParams) VerifyParams { p.Audience = testPub("mallory"); return p },
			wantErr: ErrWrongAudience},
		{name: "unknown root", tok: func(t *testing.T) *Token { return chain(t, Read, "mallory", "a") },
			wantErr: ErrUnknownRoot},
		{name: "bad signature", tok: func(t *testing.T) *Token {
			tok := chain(t, Read, "root", "a", "b")
			tok.Sig[0] ^= 1
			return tok
		}, wantErr: ErrBadSignature},
		{name: "tampered parent", tok: func(t *testing.T) *Token {
			tok := chain(t, Read, "root", "a", "b")
			tok.Parent.Rights = Admin
			return tok
		}, wantErr: ErrBadSignature},
		{name: "rights escalation", tok: func(t *testing.T) *Token {
			tok := chain(t, Write, "root", "a", "b")
			tok.Rights = Admin
			return resign(tok, testKey("a"))
		}, wantErr: ErrRightsEscalation},
		{name: "relay escalation", tok: func(t *testing.T) *Token {
			tok := chain(t, Admin, "root", "a", "b")
			tok.Rights = Read | Relay
			return resign(tok, testKey("a"))
		}, wantErr: ErrRightsEscalation},
		{name: "lifetime escalation", tok: func(t *testing.T) *Token {
			tok := chain(t, Write, "root", "a", "b")
			tok.Expiry++
			return resign(tok, testKey("a"))
		}, wantErr: ErrLifetimeEscalation},
		{name: "broken chain", tok: func(t *testing.T) *Token {
			tok := chain(t, Write, "root", "a", "b")
			return resign(tok, testKey("mallory"))
		}, wantErr: ErrBrokenChain},
		{name: "chain too deep", tok: func(t *testing.T) *Token {
			tok := chain(t, Read, "root", "1", "2", "3", "4", "5", "6", "7", "8")
			return resign(&Token{Parent: tok, Audience: testPub("9"), Doc: testDoc, Rights: Read,
				NotBefore: tok.NotBefore, Expiry: tok.Expiry}, testKey("8"))
		}, wantErr: ErrChainTooDeep},
		{name: "revoked token", tok: func(t *testing.T) *Token { return chain(t, Read, "root", "a", "b") },
			params: func(p VerifyParams) VerifyParams {
				p.Revoked = RevocationSet{Tokens: map[TokenID]bool{chain(t, Read, "root", "a").ID(): true}}
				return p
			}, wantErr: ErrRevoked},
		{name: "revoked key", tok: func(t *testing.T) *Token { return chain(t, Read, "root", "a", "b") },
			params: func(p VerifyParams) VerifyParams {
				p.Revoked = RevocationSet{Keys: map[Key]bool{testPub("a"): true}}
				return p
			}, wantErr: ErrRevoked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := tt.tok(t)
			p := base(tok)
			if tt.params != nil {
				p = tt.params(p)
			}
			got, err := Verify(tok, p)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Verify: got error %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("Verify: got rights %v, want %v", got, tt.want)
			}
		})
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	for depth := 1; depth <= MaxDepth; depth++ {
		names := []string{"root"}
		for i := 0; i < depth; i++ {
			names = append(names, string(rune('a'+i)))
		}
		tok := chain(t, Write|Relay, names...)
		enc := tok.Encode()
		if got, want := len(enc), depth*tokenFixed; got != want {
			t.Errorf("depth %d: got %d bytes, want %d", depth, got, want)
		}
		dec, err := Decode(enc)
		if err != nil {
			t.Fatalf("depth %d: Decode: %v", depth, err)
		}
		if got := dec.Encode(); !bytes.Equal(got, enc) {
			t.Errorf("depth %d: re-encoding differs", depth)
		}
		if got, want := dec.Depth(), depth; got != want {
			t.Errorf("got depth %d, want %d", got, want)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	good := chain(t, Write, "root", "a", "b").Encode()
	mut := func(f func([]byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"truncated", good[:len(good)-1], ErrMalformed},
		{"trailing", append(append([]byte(nil), good...), 0), ErrMalformed},
		{"version 0", mut(func(b []byte) []byte { b[0] = 0; return b }), ErrMalformed},
		{"version 2", mut(func(b []byte) []byte { b[0] = 2; return b }), ErrMalformed},
		{"rights none", mut(func(b []byte) []byte { b[81] = 0; return b }), ErrMalformed},
		{"rights level 5", mut(func(b []byte) []byte { b[81] = 5; return b }), ErrMalformed},
		{"rights bit 3", mut(func(b []byte) []byte { b[81] = 0x0b; return b }), ErrMalformed},
		{"nbf after exp", mut(func(b []byte) []byte { b[82] = 0x7f; return b }), ErrMalformed},
		{"parent length short", mut(func(b []byte) []byte { b[tokenHeader+1]--; return b }), ErrMalformed},
		{"parent version", mut(func(b []byte) []byte { b[tokenHeader+2] = 9; return b }), ErrMalformed},
		{"too large", make([]byte, MaxTokenSize+1), ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(tt.in)
			if !errors.Is(err, tt.want) {
				t.Errorf("Decode: got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestIssueRefuses(t *testing.T) {
	parent := chain(t, Write, "root", "a")
	tests := []struct {
		name   string
		issuer string
		g      Grant
		want   error
	}{
		{"broader rights", "a", Grant{Rights: Admin, NotBefore: hours(-1), Expiry: hours(1)}, ErrRightsEscalation},
		{"relay", "a", Grant{Rights: Relay, NotBefore: hours(-1), Expiry: hours(1)}, ErrRightsEscalation},
		{"longer", "a", Grant{Rights: Read, NotBefore: hours(-1), Expiry: hours(25)}, ErrLifetimeEscalation},
		{"earlier", "a", Grant{Rights: Read, NotBefore: hours(-25), Expiry: hours(1)}, ErrLifetimeEscalation},
		{"other doc", "a", Grant{Doc: otherDoc, Rights: Read, NotBefore: hours(-1), Expiry: hours(1)}, ErrWrongDocument},
		{"not holder", "b", Grant{Rights: Read, NotBefore: hours(-1), Expiry: hours(1)}, ErrBrokenChain},
		{"no rights", "a", Grant{Rights: None, NotBefore: hours(-1), Expiry: hours(1)}, ErrMalformed},
		{"inverted", "a", Grant{Rights: Read, NotBefore: hours(1), Expiry: hours(-1)}, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.g.Doc == (DocID{}) {
				tt.g.Doc = testDoc
			}
			tt.g.Audience = testPub("c")
			_, err := Issue(parent, testKey(tt.issuer), tt.g, newDetReader("x"))
			if !errors.Is(err, tt.want) {
				t.Errorf("Issue: got %v, want %v", err, tt.want)
			}
		})
	}
	t.Run("too deep", func(t *testing.T) {
		tok := chain(t, Read, "root", "1", "2", "3", "4", "5", "6", "7", "8")
		_, err := Issue(tok, testKey("8"), Grant{Audience: testPub("9"), Doc: testDoc, Rights: Read,
			NotBefore: hours(-1), Expiry: hours(1)}, newDetReader("x"))
		if !errors.Is(err, ErrChainTooDeep) {
			t.Errorf("Issue: got %v, want %v", err, ErrChainTooDeep)
		}
	})
}

func TestFingerprint(t *testing.T) {
	got := Fingerprint(make([]byte, 32))
	// SHA-256 of 32 zero bytes starts 66 68 7a ad f8 62 bd 77 6c 8f.
	if want := "MZUH-VLPY-MK6X-O3EP"; got != want {
		t.Errorf("Fingerprint(zero key): got %q, want %q", got, want)
	}
}

func TestRightsString(t *testing.T) {
	for _, r := range []Rights{Read, Comment, Write, Admin, Relay, Admin | Relay, Read | Relay} {
		got, err := ParseRights(r.String())
		if err != nil || got != r {
			t.Errorf("ParseRights(%q): got %v, %v, want %v", r.String(), got, err, r)
		}
	}
}

// BenchmarkVerifyDepth4 is the issue's figure: a depth-4 chain verified
// cold, with no SigCache, so every signature is checked on every call (as
// one SigBatch).
func BenchmarkVerifyDepth4(b *testing.B) {
	tok := chain(b, Write, "root", "a", "b", "c", "d")
	p := VerifyParams{Doc: testDoc, Root: testPub("root"), Audience: testPub("d"), Now: testEpoch,
		Revoked: RevocationSet{Tokens: map[TokenID]bool{}, Keys: map[Key]bool{}}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Verify(tok, p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeDepth4(b *testing.B) {
	enc := chain(b, Write, "root", "a", "b", "c", "d").Encode()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(enc); err != nil {
			b.Fatal(err)
		}
	}
}

func TestSigCache(t *testing.T) {
	c := NewSigCache(3)
	tok := chain(t, Write, "root", "a", "b", "c")
	p := VerifyParams{Doc: testDoc, Root: testPub("root"), Audience: testPub("c"), Now: testEpoch, Cache: c}
	if _, err := Verify(tok, p); err != nil {
		t.Fatal(err)
	}
	if got, want := c.Len(), 3; got != want {
		t.Errorf("Len: got %d, want %d", got, want)
	}
	// A cached signature does not excuse other rules.
	p.Now = hours(48)
	if _, err := Verify(tok, p); !errors.Is(err, ErrExpired) {
		t.Errorf("cached, expired: got %v, want %v", err, ErrExpired)
	}
	// A tampered link is a different id and is checked again.
	bad := chain(t, Write, "root", "a", "b", "c")
	bad.Sig[0] ^= 1
	p.Now = testEpoch
	if _, err := Verify(bad, p); !errors.Is(err, ErrBadSignature) {
		t.Errorf("tampered: got %v, want %v", err, ErrBadSignature)
	}
	// Eviction keeps the bound.
	if _, err := Verify(chain(t, Read, "root", "x", "y"), VerifyParams{Doc: testDoc, Root: testPub("root"),
		Audience: testPub("y"), Now: testEpoch, Cache: c}); err != nil {
		t.Fatal(err)
	}
	if got, want := c.Len(), 3; got != want {
		t.Errorf("Len after eviction: got %d, want %d", got, want)
	}
}

func BenchmarkVerifyDepth4Cached(b *testing.B) {
	tok := chain(b, Write, "root", "a", "b", "c", "d")
	p := VerifyParams{Doc: testDoc, Root: testPub("root"), Audience: testPub("d"), Now: testEpoch, Cache: NewSigCache(64)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Verify(tok, p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyDepth4OneByOne is BenchmarkVerifyDepth4 with the
// signatures checked one by one (VerifySignature), as Verify does after a
// failed batch: what the batch saves.
func BenchmarkVerifyDepth4OneByOne(b *testing.B) {
	tok := chain(b, Write, "root", "a", "b", "c", "d")
	p := VerifyParams{Doc: testDoc, Root: testPub("root"), Audience: testPub("d"), Now: testEpoch,
		Revoked: RevocationSet{Tokens: map[TokenID]bool{}, Keys: map[Key]bool{}}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := verify(tok, p, false); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEd25519Verify is one standard-library signature check on a
// link-sized message, the unit the old one-by-one check of a chain cost
// four of; it calibrates BenchmarkVerifyDepth4 on a loaded machine.
func BenchmarkEd25519Verify(b *testing.B) {
	tok := chain(b, Write, "root", "a")
	msg := append([]byte(tokenDomain), tok.appendBody(nil)...)
	pub := tok.Issuer.PublicKey()
	for b.Loop() {
		if !ed25519.Verify(pub, msg, tok.Sig[:]) {
			b.Fatal("bad signature")
		}
	}
}
