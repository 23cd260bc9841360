package testcam

import (
	"strings"
	"testing"
)

// TestGStreamerAvailableNamesMissing: an element GStreamer does not have
// makes the check fail and the reason name it, so a skip (or a CI failure)
// says what to install.
func TestGStreamerAvailableNamesMissing(t *testing.T) {
	why := GStreamerAvailable("fakesink", "zc-no-such-element")
	if why == "" {
		t.Fatal("a missing element passed the check")
	}
	// Where GStreamer itself works, the reason is the missing element.
	if GStreamerAvailable("fakesink") == "" && !strings.Contains(why, "missing: zc-no-such-element") {
		t.Errorf("reason does not name the missing element: %s", why)
	}
	if GStreamerAvailable("zc-no-such-element", "fakesink") != why {
		t.Errorf("the same elements in another order were checked apart")
	}
}
