//go:build zcdebug

package pool

import "testing"

// TestAbandonedLedger checks what the zcdebug ledger says after Abandon: a
// Free of a held range is still checked and poisoned (a second one panics),
// and Malloc panics.
func TestAbandonedLedger(t *testing.T) {
	a := NewAllocator(16 << 10)
	b := Malloc(a, 64)
	Abandon(a)
	Free(a, b[:32])
	for i, c := range b[:32] {
		if c != Poison {
			t.Fatalf("byte %d of a range freed after Abandon is %#x, not poisoned", i, c)
		}
	}
	mustPanic(t, "a second Free", func() { Free(a, b[:32]) })
	mustPanic(t, "Malloc", func() { Malloc(a, 8) })
	Free(a, b[32:])
}

func mustPanic(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("%s after Abandon did not panic", what)
		}
	}()
	f()
}

// TestMallocZeroThenMalloc: an empty Malloc owns nothing, so the ledger must
// not record it (the next Malloc at the same address would look like an
// overlap of live memory).
func TestMallocZeroThenMalloc(t *testing.T) {
	a := NewAllocator(64 << 10)
	empty := Malloc(a, 0)
	Free(a, empty)
	b := Malloc(a, 100)
	Free(a, b)
	if !Balanced(a) {
		t.Fatalf("unbalanced: %d in use", InUse(a))
	}
	Recycle(a)
}
