//go:build glbench

package ui

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"io"
	"net"
	"os"
	"strings"
)

// xTest is a minimal X11 client, enough to type keys into a window the way
// a keyboard does: through the X server (the XTEST extension's FakeInput),
// so that they reach Fyne's window by the same path as real keystrokes
// (the server, GLFW's event poll, Fyne's key handling), and to read back
// what a window shows. It speaks the core protocol over the display's
// Unix socket, with the MIT-MAGIC-COOKIE-1 from $XAUTHORITY if there is
// one, and sends only the few requests the GL benchmarks need.
type xTest struct {
	conn   net.Conn
	xtest  byte // major opcode of XTEST
	minKey byte
	keys   map[uint32]byte // keysym -> keycode
}

var le = binary.LittleEndian

// dialX connects to the X display named by $DISPLAY (":N" or ":N.S").
func dialX() (*xTest, error) {
	disp := os.Getenv("DISPLAY")
	num, ok := strings.CutPrefix(disp, ":")
	if !ok {
		return nil, fmt.Errorf("DISPLAY %q is not a local display", disp)
	}
	num, _, _ = strings.Cut(num, ".")
	conn, err := net.Dial("unix", "/tmp/.X11-unix/X"+num)
	if err != nil {
		return nil, err
	}
	x := &xTest{conn: conn}
	if err := x.setup(num); err != nil {
		conn.Close()
		return nil, err
	}
	return x, nil
}

// cookie returns the MIT-MAGIC-COOKIE-1 for display num from $XAUTHORITY.
func cookie(num string) (name, data []byte) {
	b, err := os.ReadFile(os.Getenv("XAUTHORITY"))
	if err != nil {
		return nil, nil
	}
	r := bytes.NewReader(b)
	field := func() []byte {
		var n uint16
		if binary.Read(r, binary.BigEndian, &n) != nil {
			return nil
		}
		f := make([]byte, n)
		if _, err := io.ReadFull(r, f); err != nil {
			return nil
		}
		return f
	}
	for r.Len() > 0 {
		var family uint16
		if binary.Read(r, binary.BigEndian, &family) != nil {
			return nil, nil
		}
		_ = field() // address
		n, nm, d := field(), field(), field()
		if string(n) == num && string(nm) == "MIT-MAGIC-COOKIE-1" {
			return nm, d
		}
	}
	return nil, nil
}

func pad4(n int) int { return (n + 3) &^ 3 }

func (x *xTest) setup(num string) error {
	name, data := cookie(num)
	req := make([]byte, 12+pad4(len(name))+pad4(len(data)))
	req[0] = 'l'
	le.PutUint16(req[2:], 11)
	le.PutUint16(req[6:], uint16(len(name)))
	le.PutUint16(req[8:], uint16(len(data)))
	copy(req[12:], name)
	copy(req[12+pad4(len(name)):], data)
	if _, err := x.conn.Write(req); err != nil {
		return err
	}
	head := make([]byte, 8)
	if _, err := io.ReadFull(x.conn, head); err != nil {
		return err
	}
	rest := make([]byte, 4*int(le.Uint16(head[6:])))
	if _, err := io.ReadFull(x.conn, rest); err != nil {
		return err
	}
	if head[0] != 1 {
		return fmt.Errorf("X server refused the connection: %q", rest[:min(len(rest), int(head[1]))])
	}
	x.minKey = rest[26]
	maxKey := rest[27]

	// XTEST's opcode.
	ext := "XTEST"
	q := make([]byte, 8+pad4(len(ext)))
	q[0] = 98 // QueryExtension
	le.PutUint16(q[2:], uint16(len(q)/4))
	le.PutUint16(q[4:], uint16(len(ext)))
	copy(q[8:], ext)
	r, err := x.request(q)
	if err != nil {
		return err
	}
	if r[8] == 0 {
		return errors.New("the X server has no XTEST extension")
	}
	x.xtest = r[9]

	// The keyboard mapping, to find the keycodes of keysyms.
	count := int(maxKey) - int(x.minKey) + 1
	r, err = x.request([]byte{101, 0, 2, 0, x.minKey, byte(count), 0, 0}) // GetKeyboardMapping
	if err != nil {
		return err
	}
	per := int(r[1])
	x.keys = map[uint32]byte{}
	syms := r[32:]
	for i := 0; i < count; i++ {
		for j := 0; j < per && j < 2; j++ { // unshifted and shifted
			if off := 4 * (i*per + j); off+4 <= len(syms) {
				sym := le.Uint32(syms[off:])
				if _, ok := x.keys[sym]; !ok && sym != 0 {
					x.keys[sym] = x.minKey + byte(i)
				}
			}
		}
	}
	return nil
}

// request sends a request that has a reply and returns the reply.
func (x *xTest) request(req []byte) ([]byte, error) {
	if _, err := x.conn.Write(req); err != nil {
		return nil, err
	}
	r := make([]byte, 32)
	for {
		if _, err := io.ReadFull(x.conn, r); err != nil {
			return nil, err
		}
		// Skip events: the server sends MappingNotify to every client
		// when a fake key press switches the keyboard device.
		if r[0] == 0 || r[0] == 1 {
			break
		}
	}
	if r[0] == 0 {
		return nil, fmt.Errorf("X error %d for request %d", r[1], req[0])
	}
	extra := make([]byte, 4*int(le.Uint32(r[4:])))
	if _, err := io.ReadFull(x.conn, extra); err != nil {
		return nil, err
	}
	return append(r, extra...), nil
}

// sync waits until the server has processed every request sent so far.
func (x *xTest) sync() error {
	_, err := x.request([]byte{43, 0, 1, 0}) // GetInputFocus
	return err
}

// focus gives the keyboard focus to window.
func (x *xTest) focus(window uint32) error {
	req := make([]byte, 12)
	req[0], req[1] = 42, 1 // SetInputFocus, revert to PointerRoot
	le.PutUint16(req[2:], 3)
	le.PutUint32(req[4:], window)
	if _, err := x.conn.Write(req); err != nil {
		return err
	}
	return x.sync()
}

// key presses and releases the key of keysym, and returns once the server
// has queued both events for the focused window.
func (x *xTest) key(keysym uint32) error {
	code, ok := x.keys[keysym]
	if !ok {
		return fmt.Errorf("no key for keysym %#x", keysym)
	}
	for _, typ := range []byte{2, 3} { // KeyPress, KeyRelease
		req := make([]byte, 36)
		req[0], req[1] = x.xtest, 2 // XTestFakeInput
		le.PutUint16(req[2:], 9)
		req[4], req[5] = typ, code
		if _, err := x.conn.Write(req); err != nil {
			return err
		}
	}
	return x.sync()
}

// raise puts window above its siblings (there is no window manager on
// Xvfb to do it, and the contents of a covered window cannot be read).
func (x *xTest) raise(window uint32) error {
	req := make([]byte, 16)
	req[0] = 12 // ConfigureWindow
	le.PutUint16(req[2:], 4)
	le.PutUint32(req[4:], window)
	le.PutUint16(req[8:], 0x40) // stack-mode; its value 0 is Above
	if _, err := x.conn.Write(req); err != nil {
		return err
	}
	return x.sync()
}

// capture returns what the server shows of window (a 24- or 32-bit deep
// TrueColor window, as GLFW's are on Xvfb), w by h pixels from its corner.
func (x *xTest) capture(window uint32, w, h int) (*image.RGBA, error) {
	req := make([]byte, 20)
	req[0], req[1] = 73, 2 // GetImage, ZPixmap
	le.PutUint16(req[2:], 5)
	le.PutUint32(req[4:], window)
	le.PutUint16(req[12:], uint16(w))
	le.PutUint16(req[14:], uint16(h))
	le.PutUint32(req[16:], 0xffffffff) // every plane
	r, err := x.request(req)
	if err != nil {
		return nil, err
	}
	data := r[32:]
	if len(data) < w*h*4 {
		return nil, fmt.Errorf("GetImage returned %d bytes for %dx%d pixels (depth %d): not 32 bits a pixel", len(data), w, h, r[1])
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < w*h; i++ { // BGRX, least significant byte first
		img.Pix[4*i], img.Pix[4*i+1], img.Pix[4*i+2], img.Pix[4*i+3] = data[4*i+2], data[4*i+1], data[4*i], 0xff
	}
	return img, nil
}

func (x *xTest) Close() error { return x.conn.Close() }
