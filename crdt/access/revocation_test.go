package access

import (
	"bytes"
	"errors"
	"testing"
)

func TestRevocationRoundTrip(t *testing.T) {
	admin := chain(t, Admin, "root", "alice")
	victim := chain(t, Write, "root", "alice", "bob")
	for _, tt := range []struct {
		kind   TargetKind
		target [32]byte
	}{{TargetToken, victim.ID()}, {TargetKey, testPub("bob")}} {
		r, err := Revoke(admin, testKey("alice"), tt.kind, tt.target, testEpoch)
		if err != nil {
			t.Fatalf("Revoke: %v", err)
		}
		enc := r.Encode()
		dec, err := DecodeRevocation(enc)
		if err != nil {
			t.Fatalf("DecodeRevocation: %v", err)
		}
		if !bytes.Equal(dec.Encode(), enc) {
			t.Errorf("%v: re-encoding differs", tt.kind)
		}
		if err := dec.Check(testDoc, testPub("root")); err != nil {
			t.Errorf("%v: Check: %v", tt.kind, err)
		}
	}
}

func TestRevocationCheckRejects(t *testing.T) {
	admin := chain(t, Admin, "root", "alice")
	writer := chain(t, Write, "root", "bob")
	tests := []struct {
		name string
		rec  func(t *testing.T) *Revocation
		want error
	}{
		{"not admin", func(t *testing.T) *Revocation {
			r, err := Revoke(admin, testKey("alice"), TargetKey, testPub("carol"), testEpoch)
			if err != nil {
				t.Fatal(err)
			}
			r.Proof = writer // forged: bob's proof under alice's signature
			return r
		}, ErrBadSignature},
		{"writer signs", func(t *testing.T) *Revocation {
			r := &Revocation{Doc: testDoc, Kind: TargetKey, Target: testPub("carol"), At: testEpoch.Unix(), Proof: writer}
			copy(r.Sig[:], signWith(testKey("bob"), revocationDomain, r.appendBody(nil)))
			return r
		}, ErrInsufficientRights},
		{"expired proof", func(t *testing.T) *Revocation {
			r, _ := Revoke(admin, testKey("alice"), TargetKey, testPub("carol"), hours(48))
			return r
		}, ErrExpired},
		{"root key", func(t *testing.T) *Revocation {
			r, _ := Revoke(admin, testKey("alice"), TargetKey, testPub("root"), testEpoch)
			return r
		}, ErrIrrevocable},
		{"tampered", func(t *testing.T) *Revocation {
			r, _ := Revoke(admin, testKey("alice"), TargetKey, testPub("carol"), testEpoch)
			r.Target[0] ^= 1
			return r
		}, ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.rec(t).Check(testDoc, testPub("root"))
			if !errors.Is(err, tt.want) {
				t.Errorf("Check: got %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := Revoke(writer, testKey("bob"), TargetKey, testPub("carol"), testEpoch); !errors.Is(err, ErrInsufficientRights) {
		t.Errorf("Revoke by a writer: got %v, want %v", err, ErrInsufficientRights)
	}
}

func TestDecodeRevocationRejects(t *testing.T) {
	r, _ := Revoke(chain(t, Admin, "root", "alice"), testKey("alice"), TargetKey, testPub("bob"), testEpoch)
	good := r.Encode()
	mut := func(f func([]byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"truncated", good[:len(good)-1], ErrMalformed},
		{"trailing", append(append([]byte(nil), good...), 0), ErrMalformed},
		{"version", mut(func(b []byte) []byte { b[0] = 2; return b }), ErrMalformed},
		{"kind", mut(func(b []byte) []byte { b[17] = 3; return b }), ErrMalformed},
		{"proof", mut(func(b []byte) []byte { b[revocationHeader+2] = 7; return b }), ErrMalformed},
		{"too large", make([]byte, MaxRevocationSize+1), ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := DecodeRevocation(tt.in); !errors.Is(err, tt.want) {
				t.Errorf("DecodeRevocation: got %v, want %v", err, tt.want)
			}
		})
	}
}
