package server

import (
	"testing"
	"time"

	"github.com/zcingest/zerocopy/config"
	"github.com/zcingest/zerocopy/hub"
)

// TestHubOptionsWired: item 6. The publish section reaches hub.Options,
// and its defaults are the hub's.
func TestHubOptionsWired(t *testing.T) {
	var g GlobalConfig
	if err := config.Apply(&g, "global", nil, "", nil); err != nil {
		t.Fatal(err)
	}
	o := hubOptions(g)
	if o.RingSize != hub.DefaultRingSize || o.RingBytes != hub.DefaultRingBytes ||
		o.RingDuration != hub.DefaultRingDuration || o.ReconnectWait != hub.DefaultReconnectWait ||
		o.CloseWait != hub.DefaultCloseWait || o.PublishTimeout != hub.DefaultPublishTimeout {
		t.Fatalf("defaults %+v do not match the hub's", o)
	}
	g.Publish.RingBytes, g.Publish.RingDuration, g.Publish.ReconnectWait = 1<<20, 3*time.Second, 0
	o = hubOptions(g)
	if o.RingBytes != 1<<20 || o.RingDuration != 3*time.Second || o.ReconnectWait != 0 {
		t.Fatalf("options %+v", o)
	}
}
