package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// lanDeadline bounds every wait of TestLANPeers on a condition: a peer
// starting, peers finding each other, replicas converging.
const lanDeadline = 30 * time.Second

// lanMulticast reports whether every up interface is a loopback and one of
// them does multicast, as in ./test.sh's network namespace: there mDNS
// works and cannot reach a real network.
func lanMulticast() bool {
	ifs, err := net.Interfaces()
	if err != nil {
		return false
	}
	ok := false
	for _, i := range ifs {
		if i.Flags&net.FlagUp == 0 {
			continue
		}
		if i.Flags&net.FlagLoopback == 0 {
			return false // a real network: mDNS would leave the machine
		}
		ok = ok || i.Flags&net.FlagMulticast != 0
	}
	return ok
}

// TestLANPeers runs three quirectl peer processes on loopback that find
// each other by mDNS alone (no -connect, empty peer books), edit one
// document concurrently, then one is killed, keeps editing its data
// directory offline while the other two edit on, and comes back: every
// replica ends with the same text, holding every token inserted exactly
// once.
func TestLANPeers(t *testing.T) {
	if !lanMulticast() {
		t.Skip("needs a network namespace whose only up interface is a multicast loopback, so mDNS stays on this machine; run ./test.sh (unshare -n, multicast on lo)")
	}
	start := time.Now()
	// A race-enabled binary sleeps 1 s at exit (so other threads can report)
	// unless told not to; the test runs dozens of them.
	env := append(os.Environ(), "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	l := &lan{t: t, bin: buildQuirectl(t), env: env}
	t.Logf("built quirectl (race %v) in %v", raceBuild(), time.Since(start).Round(time.Millisecond))

	// The owner creates the document and invites; the others join offline,
	// before their peers start.
	phase := time.Now()
	a, b, c := l.dir("a"), l.dir("b"), l.dir("c")
	doc := strings.TrimSpace(l.must(a, "", "new", "lan test"))
	link := strings.TrimSpace(l.must(a, "", "invite", doc, "write", "24h"))
	for _, dir := range []string{b, c} {
		if got := strings.TrimSpace(l.must(dir, "", "join", link)); got != doc {
			t.Fatalf("join in %s: document %q, want %q", dir, got, doc)
		}
	}
	pa, pb, pc := l.start(a), l.start(b), l.start(c)
	for _, p := range []*lanPeer{pa, pb, pc} {
		if !slices.Contains(p.docs, doc) {
			t.Fatalf("peer %s is ready with documents %v, want %s among them", p.name, p.docs, doc)
		}
	}
	l.awaitPeers(pa, pb, pc)
	l.awaitPeers(pb, pa, pc)
	l.awaitPeers(pc, pa, pb)
	t.Logf("3 peers started and found each other by mDNS in %v", time.Since(phase).Round(time.Millisecond))

	// Everyone edits at once, through the running peers.
	phase = time.Now()
	var tokens []string
	tokens = append(tokens, l.editConcurrently(doc, 0, pa, pb, pc)...)
	l.converge(doc, tokens, pa, pb, pc)
	t.Logf("concurrent edits on 3 peers converged in %v", time.Since(phase).Round(time.Millisecond))

	// c goes offline without a goodbye and edits its store directly, while
	// a and b go on editing together.
	phase = time.Now()
	pc.kill()
	if out, err := l.doc(c, "", "peers"); err == nil {
		t.Fatalf("doc peers on c's directory after its peer was killed: %q, want an error (no peer runs)", out)
	}
	var wg sync.WaitGroup
	var offline []string
	wg.Go(func() { offline = l.editConcurrently(doc, 1, &lanPeer{name: "c", dir: c}) })
	online := l.editConcurrently(doc, 1, pa, pb)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	tokens = append(tokens, online...)
	text := l.must(c, "", "show", doc)
	for _, tok := range offline {
		if strings.Count(text, tok) != 1 {
			t.Fatalf("offline c's own text %q holds %q %d times, want once", text, tok, strings.Count(text, tok))
		}
	}
	l.converge(doc, tokens, pa, pb)
	tokens = append(tokens, offline...)
	t.Logf("c offline: 2 peers edited and converged, c edited its store, in %v", time.Since(phase).Round(time.Millisecond))

	// c comes back on a new port: mDNS brings the three together again.
	phase = time.Now()
	pc = l.start(c)
	l.awaitPeers(pc, pa, pb)
	l.converge(doc, tokens, pa, pb, pc)
	t.Logf("c back: found and converged in %v (%d tokens, whole test %v)", time.Since(phase).Round(time.Millisecond), len(tokens), time.Since(start).Round(time.Millisecond))
}

// lan is TestLANPeers' harness: a quirectl binary and its processes.
type lan struct {
	t   *testing.T
	bin string
	env []string // for every quirectl process
}

// lanPeer is one running quirectl peer (or, with no cmd, a data directory
// whose peer does not run).
type lanPeer struct {
	name, dir string
	id        string
	docs      []string
	cmd       *exec.Cmd
	stderr    string // file holding the process's log
	done      chan struct{}
	waitErr   error
}

func raceBuild() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" && s.Value == "true" {
			return true
		}
	}
	return false
}

// buildQuirectl builds quirectl into a temporary directory, with the race
// detector when this test binary has it.
func buildQuirectl(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go") // go test puts its own GOROOT/bin first in PATH
	if err != nil {
		t.Fatalf("go tool not found: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "quirectl")
	args := []string{"build", "-o", bin}
	if raceBuild() {
		args = append(args, "-race")
	}
	cmd := exec.CommandContext(t.Context(), goTool, append(args, ".")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return bin
}

// dir returns a fresh data directory for the peer called name.
func (l *lan) dir(name string) string {
	d := filepath.Join(l.t.TempDir(), name)
	if err := os.Mkdir(d, 0o700); err != nil {
		l.t.Fatal(err)
	}
	return d
}

// doc runs "quirectl doc -data dir args..." with stdin and returns its
// stdout; the error includes stderr.
func (l *lan) doc(dir, stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(l.t.Context(), lanDeadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, l.bin, append([]string{"doc", "-data", dir}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = l.env
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("quirectl doc -data %s %s: %v: %s", filepath.Base(dir), strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	if strings.Contains(stderr.String(), "DATA RACE") {
		return stdout.String(), fmt.Errorf("quirectl doc %s: %s", strings.Join(args, " "), stderr.String())
	}
	return stdout.String(), nil
}

// must is doc, failing the test on error.
func (l *lan) must(dir, stdin string, args ...string) string {
	l.t.Helper()
	out, err := l.doc(dir, stdin, args...)
	if err != nil {
		l.t.Fatal(err)
	}
	return out
}

// start runs "quirectl peer" on dir, listening on loopback only with mDNS
// on, and waits until it is ready. The process is stopped at cleanup.
func (l *lan) start(dir string) *lanPeer {
	l.t.Helper()
	p := &lanPeer{name: filepath.Base(dir), dir: dir, done: make(chan struct{})}
	log, err := os.CreateTemp(l.t.TempDir(), p.name+"-peer-*.log")
	if err != nil {
		l.t.Fatal(err)
	}
	defer log.Close()
	p.stderr = log.Name()
	p.cmd = exec.Command(l.bin, "peer", "-data", dir, "-listen", "/ip4/127.0.0.1/tcp/0")
	p.cmd.Env = l.env
	p.cmd.Stderr = log
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		l.t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		l.t.Fatal(err)
	}
	lines := make(chan string, 16)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default: // past "ready" nobody reads; the peer prints nothing more
			}
		}
	}()
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.done)
	}()
	l.t.Cleanup(func() { l.stop(p) })
	timeout := time.After(lanDeadline)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				<-p.done
				l.t.Fatalf("peer %s exited before ready: %v\n%s", p.name, p.waitErr, p.log())
			}
			switch k, v, _ := strings.Cut(line, " "); k {
			case "peer":
				p.id = v
			case "ready":
				// "ready N documents ID..."
				if f := strings.Fields(v); len(f) >= 2 {
					p.docs = f[2:]
				}
				if p.id == "" {
					l.t.Fatalf("peer %s ready without printing its id", p.name)
				}
				return p
			}
		case <-timeout:
			l.t.Fatalf("peer %s not ready after %v\n%s", p.name, lanDeadline, p.log())
		}
	}
}

// log returns what the peer wrote to stderr.
func (p *lanPeer) log() string {
	b, _ := os.ReadFile(p.stderr)
	return string(b)
}

// kill ends the peer at once (SIGKILL: no clean shutdown) and waits for it.
func (p *lanPeer) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// stop interrupts the peer, as a user would, and checks that it shut down
// cleanly and without a data race; a peer that does not stop in time is
// killed.
func (l *lan) stop(p *lanPeer) {
	select {
	case <-p.done:
		return // killed by the test
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.done:
		if p.waitErr != nil {
			l.t.Errorf("peer %s: exit after interrupt: %v\n%s", p.name, p.waitErr, p.log())
		}
	case <-time.After(lanDeadline):
		_ = p.cmd.Process.Kill()
		<-p.done
		l.t.Errorf("peer %s did not stop within %v of an interrupt\n%s", p.name, lanDeadline, p.log())
	}
	if s := p.log(); strings.Contains(s, "DATA RACE") {
		l.t.Errorf("peer %s reported a data race:\n%s", p.name, s)
	}
}

// awaitPeers waits until p is connected to every one of others.
func (l *lan) awaitPeers(p *lanPeer, others ...*lanPeer) {
	l.t.Helper()
	deadline := time.Now().Add(lanDeadline)
	for {
		out := l.must(p.dir, "", "peers")
		missing := 0
		for _, o := range others {
			if !strings.Contains(out, o.id) {
				missing++
			}
		}
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("peer %s: after %v, connected to %q, want all of %v\n%s", p.name, lanDeadline, out, ids(others), p.log())
		}
		time.Sleep(50 * time.Millisecond) // poll interval; the deadline above bounds the wait
	}
}

func ids(ps []*lanPeer) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.name+"="+p.id)
	}
	return out
}

// lanEdits is how many edits each peer makes in each round.
const lanEdits = 8

// editConcurrently has every peer in ps make lanEdits edits to doc at the
// same time as the others, alternately at the start and at the end of the
// text, each inserting a token no other edit inserts; it returns the
// tokens. Positions 0 and the end never fall inside a token, so every token
// must survive whole.
func (l *lan) editConcurrently(doc string, round int, ps ...*lanPeer) []string {
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		tokens []string
	)
	for _, p := range ps {
		wg.Go(func() {
			for i := range lanEdits {
				tok := fmt.Sprintf("<%s%d.%d>", p.name, round, i)
				var err error
				if i%2 == 0 {
					_, err = l.doc(p.dir, tok, "edit", doc, "append")
				} else {
					_, err = l.doc(p.dir, "", "edit", doc, "insert", "0", tok)
				}
				if err != nil {
					l.t.Error(err)
					return
				}
				mu.Lock()
				tokens = append(tokens, tok)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return tokens
}

// converge waits until every peer in ps holds the same text and that text
// holds every token exactly once. Each round asks each pair of peers to
// sync (doc wait), then compares the texts.
func (l *lan) converge(doc string, tokens []string, ps ...*lanPeer) {
	l.t.Helper()
	deadline := time.Now().Add(lanDeadline)
	for {
		var waitErr error
		for i, p := range ps {
			for _, o := range ps[i+1:] {
				left := time.Until(deadline).Round(time.Millisecond)
				if _, err := l.doc(p.dir, "", "wait", doc, o.id, max(left, time.Millisecond).String()); err != nil {
					waitErr = err
				}
			}
		}
		texts := make([]string, len(ps))
		for i, p := range ps {
			texts[i] = l.must(p.dir, "", "show", doc)
		}
		bad := lanCheck(texts, tokens)
		if bad == "" && waitErr == nil {
			return
		}
		if time.Now().After(deadline) {
			var b strings.Builder
			for i, p := range ps {
				fmt.Fprintf(&b, "peer %s (%s): %q\n", p.name, p.id, texts[i])
			}
			l.t.Fatalf("not converged after %v: %s (last wait: %v)\n%s", lanDeadline, bad, waitErr, b.String())
		}
	}
}

// lanCheck returns "" when every text is the same and holds each token
// exactly once, else what is wrong.
func lanCheck(texts, tokens []string) string {
	for i := 1; i < len(texts); i++ {
		if texts[i] != texts[0] {
			return fmt.Sprintf("texts differ (replica %d vs 0)", i)
		}
	}
	for _, tok := range tokens {
		if n := strings.Count(texts[0], tok); n != 1 {
			return fmt.Sprintf("token %q present %d times, want once", tok, n)
		}
	}
	want := 0
	for _, tok := range tokens {
		want += len(tok)
	}
	if len(texts[0]) != want {
		return fmt.Sprintf("text has %d bytes, the tokens %d: something else got in", len(texts[0]), want)
	}
	return ""
}
