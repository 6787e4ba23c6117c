package access

import "testing"

// TestDecodeAllocs checks that decoding allocates a bounded amount per link
// (one Token) and a constant amount on failure, whatever the input.
func TestDecodeAllocs(t *testing.T) {
	deep := chain(t, Read, "root", "1", "2", "3", "4", "5", "6", "7", "8").Encode()
	tests := []struct {
		name string
		in   []byte
		max  float64
	}{
		{"depth 8", deep, MaxDepth},
		{"depth 1", chain(t, Read, "root", "1").Encode(), 1},
		{"truncated depth 8", deep[:len(deep)-1], MaxDepth + 8},
		{"zeros", make([]byte, MaxTokenSize), 8},
		{"oversized", make([]byte, 1<<20), 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := testing.AllocsPerRun(20, func() { _, _ = Decode(tt.in) })
			if got > tt.max {
				t.Errorf("Decode allocated %v times, want at most %v", got, tt.max)
			}
		})
	}
}
