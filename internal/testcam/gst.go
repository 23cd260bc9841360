package testcam

import (
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/zcingest/zerocopy/internal/testclip"
)

// GstLaunch is the GStreamer command-line pipeline runner.
const GstLaunch = "gst-launch-1.0"

var (
	elemMu  sync.Mutex
	elemErr = map[string]error{} // by the sorted, comma-joined element list
)

// GStreamerAvailable reports why gst-launch-1.0 and Debian's python3 with
// python3-gi cannot run pipelines made of elements here ("" when they
// can). Each distinct element list is checked once per test binary.
func GStreamerAvailable(elements ...string) string {
	sorted := slices.Sorted(slices.Values(elements))
	key := strings.Join(sorted, ",")
	elemMu.Lock()
	defer elemMu.Unlock()
	err, ok := elemErr[key]
	if !ok {
		err = checkElements(sorted)
		elemErr[key] = err
	}
	if err != nil {
		return err.Error()
	}
	return ""
}

func checkElements(elements []string) error {
	if _, err := exec.LookPath(GstLaunch); err != nil {
		return fmt.Errorf("%s (gstreamer1.0-tools): %v", GstLaunch, err)
	}
	// The element names are passed as arguments, not spliced into the
	// program, and the missing ones are printed so that the skip names them.
	out, err := exec.Command(Python, append([]string{"-c",
		"import sys, gi; gi.require_version('Gst','1.0'); from gi.repository import Gst; Gst.init(None); " +
			"m = [e for e in sys.argv[1:] if not Gst.ElementFactory.find(e)]; print(' '.join(m)); sys.exit(3 if m else 0)"},
		elements...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s with python3-gi and the GStreamer elements %s (missing: %s): %v",
			Python, strings.Join(elements, ", "), strings.TrimSpace(string(out)), err)
	}
	return nil
}

// NeedGStreamer skips t (or fails it under CI, see testclip.Required)
// unless gst-launch-1.0, python3-gi and every named element are there.
func NeedGStreamer(t testing.TB, elements ...string) {
	t.Helper()
	if why := GStreamerAvailable(elements...); why != "" {
		if testclip.Required() {
			t.Fatalf("testcam: needs %s", why)
		}
		t.Skipf("testcam: needs %s", why)
	}
}
