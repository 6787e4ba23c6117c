package access

import (
	"bytes"
	"fmt"
	"testing"
	"time"
)

func FuzzDecodeToken(f *testing.F) {
	f.Add(chain(f, Write, "root", "a").Encode())
	f.Fuzz(func(t *testing.T, data []byte) {
		tok, err := Decode(data)
		if err != nil {
			return
		}
		if got := tok.Encode(); !bytes.Equal(got, data) {
			t.Fatalf("decode then encode differs:\n got %x\nwant %x", got, data)
		}
		if got, want := tok.Size(), len(data); got != want {
			t.Fatalf("Size: got %d, want %d", got, want)
		}
	})
}

func FuzzVerify(f *testing.F) {
	f.Add(chain(f, Write, "root", "a", "b").Encode(), testEpoch.Unix())
	root, aud := testPub("root"), testPub("b")
	f.Fuzz(func(t *testing.T, data []byte, now int64) {
		tok, err := Decode(data)
		if err != nil {
			return
		}
		p := VerifyParams{Doc: testDoc, Root: root, Audience: aud, Now: time.Unix(now, 0)}
		rights, err := Verify(tok, p)
		// Batched and one-by-one signature checks decide alike, word for word.
		if r2, err2 := verify(tok, p, false); r2 != rights || fmt.Sprint(err2) != fmt.Sprint(err) {
			t.Fatalf("batch: %v, %v; one by one: %v, %v", rights, err, r2, err2)
		}
		if err != nil {
			return
		}
		if !rights.Valid() || rights != tok.Rights || tok.Audience != aud {
			t.Fatalf("Verify accepted %v for %v", rights, tok.Audience)
		}
		for l := tok; l != nil; l = l.Parent {
			if !rights.Within(l.Rights) {
				t.Fatalf("leaf rights %v exceed link rights %v", rights, l.Rights)
			}
		}
	})
}

func FuzzParseInvite(f *testing.F) {
	f.Add(InvitePrefix)
	f.Fuzz(func(t *testing.T, link string) {
		inv, err := ParseInvite(link)
		if err != nil {
			return
		}
		if got := inv.String(); got != link {
			t.Fatalf("parse then print differs:\n got %q\nwant %q", got, link)
		}
	})
}

func FuzzDecodeRevocation(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeRevocation(data)
		if err != nil {
			return
		}
		if got := r.Encode(); !bytes.Equal(got, data) {
			t.Fatalf("decode then encode differs:\n got %x\nwant %x", got, data)
		}
		_ = r.Check(testDoc, testPub("root")) // must not panic
	})
}
