package fabgossip

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestMetricsAndExplainPeer(t *testing.T) {
	initT(t, localConfig(t, "Org1MSP"), nil)
	text, err := Metrics()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"# TYPE gossip_comm_messages_sent counter\n",
		"# TYPE gossip_state_height gauge\n",
		"fabgossip_comm_handshake_failures{reason=\"bad_signature\"} 0\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics text lacks %q:\n%s", want, text)
		}
	}
	port := freePort(t)
	e, err := ExplainPeer(fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	if e.Reason != "never_dialed" || e.InView || e.LastContact != nil || e.Self.Org != "Org1MSP" {
		t.Errorf("unexpected explanation %+v", e)
	}
	_, err = ExplainPeer("neither an endpoint nor hex")
	var fe *Error
	if !errors.As(err, &fe) || fe.Status != StatusInvalidArg {
		t.Errorf("bad query: got %v, want an InvalidArg error", err)
	}
	mustShutdown(t)
	if _, err := Metrics(); !errors.As(err, &fe) || fe.Status != StatusNotInitialized {
		t.Errorf("after shutdown: got %v, want NotInitialized", err)
	}
}
