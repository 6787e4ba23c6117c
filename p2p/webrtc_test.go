package p2p

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
)

// loopbackAPI returns a pion API that gathers only loopback host
// candidates, with ICE mDNS off, so the test never leaves the machine.
func loopbackAPI() *webrtc.API {
	var s webrtc.SettingEngine
	s.SetIncludeLoopbackCandidate(true)
	s.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	s.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	s.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	return webrtc.NewAPI(webrtc.WithSettingEngine(s))
}

// gathered returns pc's local description once ICE gathering is complete,
// so it carries every candidate and no trickle signalling is needed.
func gathered(t *testing.T, pc *webrtc.PeerConnection, desc webrtc.SessionDescription) webrtc.SessionDescription {
	t.Helper()
	done := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(desc); err != nil {
		t.Fatal(err)
	}
	<-done
	return *pc.LocalDescription()
}

// TestWebRTCDataChannelLoopback proves the pion WebRTC stack that p2p will
// use for direct data channels works on this machine: two peer connections
// in one process, signalled by hand, exchange a message over a data channel
// on loopback.
func TestWebRTCDataChannelLoopback(t *testing.T) {
	// Fails the test rather than hanging if ICE never connects; not a sleep.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	api := loopbackAPI()
	offerer, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer offerer.Close()
	answerer, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer answerer.Close()

	received := make(chan string, 1)
	answerer.OnDataChannel(func(dc *webrtc.DataChannel) {
		dc.OnMessage(func(m webrtc.DataChannelMessage) {
			select {
			case received <- string(m.Data):
			default: // only the first message matters
			}
		})
	})
	dc, err := offerer.CreateDataChannel("quire-test", nil)
	if err != nil {
		t.Fatal(err)
	}
	opened := make(chan struct{})
	dc.OnOpen(func() { close(opened) })

	offer, err := offerer.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := answerer.SetRemoteDescription(gathered(t, offerer, offer)); err != nil {
		t.Fatal(err)
	}
	answer, err := answerer.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := offerer.SetRemoteDescription(gathered(t, answerer, answer)); err != nil {
		t.Fatal(err)
	}

	select {
	case <-opened:
	case <-ctx.Done():
		t.Fatalf("data channel did not open: %v", ctx.Err())
	}
	if err := dc.SendText("hello over webrtc"); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-received:
		if want := "hello over webrtc"; got != want {
			t.Errorf("received %q, want %q", got, want)
		}
	case <-ctx.Done():
		t.Fatalf("no message received: %v", ctx.Err())
	}
}
