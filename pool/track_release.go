//go:build !zcdebug

package pool

import "weak"

// Debug is true in builds with the zcdebug tag.
const Debug = false

func trackNew(*Allocator)                              {}
func trackMalloc(*Allocator, []byte)                   {}
func trackFree(*Allocator, []byte)                     {}
func trackRecycle(*Allocator)                          {}
func trackAbandon(*Allocator, weak.Pointer[Allocator]) {}
func trackAbandonedFree(*Allocator, []byte)            {}
func trackCollected(weak.Pointer[Allocator])           {}

// Adopt makes the calling goroutine the owner of a. Call it only when the
// previous owner has provably stopped using a (for example after its
// goroutine has exited), to hand teardown to another goroutine. It only
// matters in zcdebug builds, which check ownership.
func Adopt(*Allocator) {}
