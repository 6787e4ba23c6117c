package crdt

// heap is a binary heap ordered by before: the item for which before is
// true against every other comes out first. The graph walks and the
// canonical encoding order share it.
type heap[T any] struct {
	s      []T
	before func(a, b T) bool
}

func (h *heap[T]) len() int { return len(h.s) }

// top returns the first item without removing it.
func (h *heap[T]) top() T { return h.s[0] }

func (h *heap[T]) push(x T) {
	h.s = append(h.s, x)
	i := len(h.s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !h.before(h.s[i], h.s[p]) {
			break
		}
		h.s[i], h.s[p] = h.s[p], h.s[i]
		i = p
	}
}

func (h *heap[T]) pop() T {
	s := h.s
	first := s[0]
	n := len(s) - 1
	s[0] = s[n]
	s = s[:n]
	i := 0
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && h.before(s[l], s[m]) {
			m = l
		}
		if r < n && h.before(s[r], s[m]) {
			m = r
		}
		if m == i {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	h.s = s
	return first
}

// lvHeap is a priority queue of lvItems, highest LV first: the graph walks
// go from the newest ops back. It holds one item per concurrent branch of
// the walk, a handful, so it is a sorted slice (ascending, the first item
// last) rather than a binary heap: popping is free and pushing shifts a
// few items.
type lvHeap []lvItem

// top returns the highest item.
func (h lvHeap) top() lvItem { return h[len(h)-1] }

func (h *lvHeap) push(x lvItem) {
	s := append(*h, x)
	i := len(s) - 1
	for i > 0 && s[i-1].lv > x.lv {
		s[i] = s[i-1]
		i--
	}
	s[i] = x
	*h = s
}

func (h *lvHeap) pop() lvItem {
	s := *h
	x := s[len(s)-1]
	*h = s[:len(s)-1]
	return x
}
