package p2p

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/quire-dev/quire/crdt/access"
	"github.com/quire-dev/quire/p2p/mailproto"
)

const (
	// maxMailboxStreams bounds the mailbox requests a node serves at once;
	// past it a request is answered CodeBusy at once.
	maxMailboxStreams = 32
	// mailboxTimeout bounds one mailbox exchange on either side: reading
	// the request, deciding, writing the answer.
	mailboxTimeout = 30 * time.Second
	// mailboxReadTimeout bounds reading a request on the serving side.
	mailboxReadTimeout = 10 * time.Second
)

// Mailbox decides relay mailbox requests (see package mailproto); a relay
// passes one in Config.Mailbox. Serve is called concurrently, once per
// request, with the key the transport authenticated.
type Mailbox interface {
	Serve(from access.Key, req mailproto.Request) mailproto.Response
}

// handleMailboxStream serves one mailbox exchange.
func (n *Node) handleMailboxStream(st network.Stream) {
	defer st.Close()
	from, err := keyOf(st.Conn().RemotePeer())
	if err != nil {
		_ = st.Reset()
		return
	}
	// The request is read before a slot is taken, within a short
	// deadline, so that peers sending slowly hold no slot; how many
	// streams may be read at once is the resource manager's limit.
	if err := st.SetDeadline(time.Now().Add(mailboxReadTimeout)); err != nil {
		_ = st.Reset()
		return
	}
	body, err := mailproto.ReadFrame(bufio.NewReader(st), mailproto.MaxRequestSize)
	if err != nil {
		n.writeMailbox(st, mailproto.Refuse(mailproto.CodeMalformed, "%v", err))
		return
	}
	req, err := mailproto.DecodeRequest(body)
	if err != nil {
		n.writeMailbox(st, mailproto.Refuse(mailproto.CodeMalformed, "%v", err))
		return
	}
	select {
	case n.mailboxSlots <- struct{}{}:
		defer func() { <-n.mailboxSlots }()
	default:
		n.writeMailbox(st, mailproto.Refuse(mailproto.CodeBusy, "serving %d requests", maxMailboxStreams))
		return
	}
	if err := st.SetDeadline(time.Now().Add(mailboxTimeout)); err != nil {
		_ = st.Reset()
		return
	}
	n.writeMailbox(st, n.cfg.Mailbox.Serve(from, req))
}

func (n *Node) writeMailbox(st network.Stream, resp mailproto.Response) {
	if err := mailproto.WriteFrame(st, resp.Encode()); err != nil {
		n.log.Debug("mailbox answer not written", "peer", st.Conn().RemotePeer(), "err", err)
		_ = st.Reset()
	}
}

// ErrMailboxAnswer reports an answer of the wrong type for the request.
var ErrMailboxAnswer = errors.New("p2p: mailbox answer does not match the request")

// Mailbox sends req to the relay p (connecting if needed) and returns its
// answer. A refusal is returned as a *mailproto.RefusedError. The exchange
// is bounded by ctx and by a 30 s timeout.
func (n *Node) Mailbox(ctx context.Context, p peer.ID, req mailproto.Request) (mailproto.Response, error) {
	if !n.running() {
		return mailproto.Response{}, ErrNotRunning
	}
	ctx, cancel := context.WithTimeout(ctx, mailboxTimeout)
	defer cancel()
	st, err := n.host.NewStream(ctx, p, mailproto.ProtocolID)
	if err != nil {
		return mailproto.Response{}, fmt.Errorf("p2p: open mailbox stream to %s: %w", p, err)
	}
	defer st.Close()
	deadline, _ := ctx.Deadline()
	if err := st.SetDeadline(deadline); err != nil {
		_ = st.Reset()
		return mailproto.Response{}, fmt.Errorf("p2p: mailbox %s: %w", p, err)
	}
	stop := context.AfterFunc(ctx, func() { _ = st.Reset() })
	defer stop()
	if err := mailproto.WriteFrame(st, req.Encode()); err != nil {
		_ = st.Reset()
		return mailproto.Response{}, fmt.Errorf("p2p: mailbox %v to %s: %w", req.Type, p, err)
	}
	if err := st.CloseWrite(); err != nil {
		_ = st.Reset()
		return mailproto.Response{}, fmt.Errorf("p2p: mailbox %v to %s: %w", req.Type, p, err)
	}
	body, err := mailproto.ReadFrame(bufio.NewReader(st), mailproto.MaxFrameSize)
	if err != nil {
		_ = st.Reset()
		return mailproto.Response{}, fmt.Errorf("p2p: mailbox %v answer from %s: %w", req.Type, p, err)
	}
	resp, err := mailproto.DecodeResponse(body)
	if err != nil {
		return mailproto.Response{}, fmt.Errorf("p2p: mailbox %v answer from %s: %w", req.Type, p, err)
	}
	if err := resp.Err(); err != nil {
		return resp, err
	}
	want := mailproto.TypeStored
	if req.Type == mailproto.TypeGet {
		want = mailproto.TypeBoxes
	}
	if resp.Type != want {
		return mailproto.Response{}, fmt.Errorf("%w: %v answered %v", ErrMailboxAnswer, req.Type, resp.Type)
	}
	return resp, nil
}
