package crdt

// lvLeaves maps the LV of every item a tracker has inserted to the id of
// the leaf that holds it. It is a paged array: an LV costs 4 bytes, pages
// exist only where the tracker has items, and moving items between leaves
// (a leaf split) rewrites just their entries instead of reshaping a sorted
// index.
type lvLeaves struct {
	first int       // page number of pages[0]
	pages [][]int32 // nil: no items in that page
}

const (
	lvPageBits = 10
	lvPageSize = 1 << lvPageBits
	noItem     = -1
)

// get returns the leaf id of item lv, or noItem.
func (x *lvLeaves) get(lv int) int32 {
	p := lv>>lvPageBits - x.first
	if p < 0 || p >= len(x.pages) || x.pages[p] == nil {
		return noItem
	}
	return x.pages[p][lv&(lvPageSize-1)]
}

// set records that items [lv, lv+n) are in leaf id.
func (x *lvLeaves) set(lv, n int, id int32) {
	for n > 0 {
		pg := x.page(lv >> lvPageBits)
		off := lv & (lvPageSize - 1)
		k := min(n, lvPageSize-off)
		s := pg[off : off+k]
		for i := range s {
			s[i] = id
		}
		lv += k
		n -= k
	}
}

// page returns page number p, creating it (and growing the table either
// way) if needed.
func (x *lvLeaves) page(p int) []int32 {
	switch {
	case len(x.pages) == 0:
		x.first = p
		x.pages = append(x.pages, nil)
	case p < x.first:
		grow := x.first - p
		x.pages = append(make([][]int32, grow, grow+len(x.pages)), x.pages...)
		x.first = p
	case p-x.first >= len(x.pages):
		x.pages = append(x.pages, make([][]int32, p-x.first+1-len(x.pages))...)
	}
	i := p - x.first
	if x.pages[i] == nil {
		pg := make([]int32, lvPageSize)
		for j := range pg {
			pg[j] = noItem
		}
		x.pages[i] = pg
	}
	return x.pages[i]
}
