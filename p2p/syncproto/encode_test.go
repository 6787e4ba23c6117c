package syncproto_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/quire-dev/quire/crdt"
	. "github.com/quire-dev/quire/p2p/syncproto"
)

func TestEncodeRoundTrip(t *testing.T) {
	msgs := []Message{
		{Type: TypeHello, Version: Version, Doc: crdt.DocID{1, 2}, Proof: []byte("proof")},
		{Type: TypeHello, Version: 300, Doc: crdt.DocID{}, Proof: []byte{}},
		{Type: TypeHave, Vector: crdt.Vector{{2}: 5, {1}: 1 << 40}},
		{Type: TypeAck, Vector: crdt.Vector{}},
		{Type: TypeBatch, Data: []byte{0, 1, 2}},
		{Type: TypeDone},
		{Type: TypeError, Code: CodeRefused},
	}
	var stream []byte
	for _, m := range msgs {
		got, err := Decode(m.Encode())
		if err != nil {
			t.Fatalf("%s: %v", m.Type, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Errorf("round trip %+v -> %+v", m, got)
		}
		stream = AppendFrame(stream, m)
	}
	r := bufio.NewReader(bytes.NewReader(stream))
	for _, m := range msgs {
		got, err := ReadMessage(r, MaxFrameSize)
		if err != nil || !reflect.DeepEqual(got, m) {
			t.Fatalf("ReadMessage = %+v, %v; want %+v", got, err, m)
		}
	}
	if _, err := ReadMessage(r, MaxFrameSize); err != io.EOF {
		t.Errorf("after the last frame: %v, want io.EOF", err)
	}
}

func TestDecodeRejects(t *testing.T) {
	a1, a2 := crdt.Author{1}, crdt.Author{2}
	vec := func(as ...crdt.Author) []byte {
		b := []byte{byte(TypeHave)}
		b = binary.AppendUvarint(b, uint64(len(as)))
		for _, a := range as {
			b = append(append(b, a[:]...), 1)
		}
		return b
	}
	tests := map[string][]byte{
		"empty":              {},
		"unknown type":       {99},
		"empty batch":        {byte(TypeBatch)},
		"error without code": {byte(TypeError)},
		"done with trailer":  {byte(TypeDone), 0},
		"hello truncated":    {byte(TypeHello), 1, 2, 3},
		"hello proof beyond": append(append([]byte{byte(TypeHello), 1}, make([]byte, 16)...), 10, 1),
		"hello huge proof":   append(append([]byte{byte(TypeHello), 1}, make([]byte, 16)...), 0xff, 0xff, 0xff, 0xff, 0x0f),
		"vector unsorted":    vec(a2, a1),
		"vector duplicate":   vec(a1, a1),
		"vector count lies":  {byte(TypeHave), 0xff, 0xff, 0xff, 0xff, 0x0f},
		"vector truncated":   vec(a1)[:20],
		"bad version varint": {byte(TypeHello), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		"oversized":          append([]byte{byte(TypeBatch)}, make([]byte, MaxFrameSize)...),
	}
	for name, b := range tests {
		t.Run(name, func(t *testing.T) {
			if m, err := Decode(b); err == nil {
				t.Errorf("decoded %+v", m)
			}
		})
	}
}

func TestReadMessageRefusesHugeFrame(t *testing.T) {
	b := binary.AppendUvarint(nil, MaxFrameSize+1)
	_, err := ReadMessage(bufio.NewReader(bytes.NewReader(b)), MaxFrameSize)
	if !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("err = %v, want ErrFrameTooLarge", err)
	}
	big := binary.AppendUvarint(nil, HelloFrameSize+1)
	if _, err := ReadMessage(bufio.NewReader(bytes.NewReader(big)), HelloFrameSize); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("frame over the hello limit: %v", err)
	}
	b = binary.AppendUvarint(nil, 10) // promises 10 bytes, has 2
	if _, err := ReadMessage(bufio.NewReader(bytes.NewReader(append(b, 1, 2))), MaxFrameSize); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated frame: %v", err)
	}
	if err := WriteMessage(io.Discard, Message{Type: TypeBatch, Data: make([]byte, MaxFrameSize)}); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("WriteMessage of a huge batch: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(Message{Type: TypeHello, Version: 1, Proof: []byte("p")}.Encode())
	f.Add(Message{Type: TypeHave, Vector: crdt.Vector{{1}: 3}}.Encode())
	f.Add([]byte{byte(TypeBatch), 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			return
		}
		if again := m.Encode(); !bytes.Equal(again, b) {
			t.Errorf("decode/encode not canonical: %x -> %x", b, again)
		}
	})
}
