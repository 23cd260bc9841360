package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/langhuihui/gomem"

	"github.com/zcingest/zerocopy/codec"
	"github.com/zcingest/zerocopy/pool"
)

// Kind tells audio frames from video frames.
type Kind uint8

const (
	Video Kind = iota + 1
	Audio
)

func (k Kind) String() string {
	switch k {
	case Video:
		return "video"
	case Audio:
		return "audio"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Format says how a frame's Payload is laid out.
type Format uint8

const (
	// FormatFLV: Payload is an FLV/RTMP tag body (the codec header bytes
	// followed by AVCC NAL units or a raw AAC frame), exactly as received.
	FormatFLV Format = iota + 1
	// FormatUnits: Payload is the codec units themselves, back to back
	// and nothing else: for H.264/H.265 the NAL units without start codes
	// or length prefixes, for AAC one raw access unit. Units holds one Span
	// per unit, in order, covering Payload exactly. RTP (RTSP) and MPEG-TS
	// (SRT) ingest produce it; every egress writes its own container
	// framing (FLV tag and AVC packet headers, RTP and FU headers, PES and
	// TS headers) around the units.
	FormatUnits
)

// Frame is one media frame. Its Payload is a chain of ranges owned by the
// frame, Malloc'd from the publishing connection's allocator (taken from its
// reader, not copied). Units are views into Payload by logical offset: the
// NAL units of a video frame or the access unit of an audio frame.
//
// A frame is filled on the publishing goroutine and, once written, is shared
// read-only. Readers on other goroutines hold it with Retain/Release; the
// last Release hands it back to its owner, which frees Payload on its own
// goroutine the next time it writes or when it closes.
type Frame struct {
	Kind     Kind
	Codec    codec.Codec
	Format   Format
	DTS      time.Duration
	PTS      time.Duration
	Keyframe bool
	Payload  gomem.Memory
	Units    []codec.Span

	refs  atomic.Int32
	owner *FramePool
	next  *Frame   // link in the owner's return stack
	small [][]byte // the frame's own ranges slice; Payload.Buffers may be a borrowed larger one
	// holders own the foreign memory Payload points into (foreign.go);
	// when set, Payload is not the allocator's and is never freed to it.
	holders []Holder
}

// MovePayload moves m's ranges into f.Payload without copying any payload
// byte (only the slice of range headers is written) and empties m, keeping
// its capacity for the next message. A frame needing more ranges than its
// own slice holds (a keyframe split over many chunks) borrows a larger slice
// from its pool, which gets it back when the frame is recycled; so keyframes
// cost no allocation once the first few have passed.
func MovePayload(f *Frame, m *gomem.Memory) {
	if n := len(m.Buffers); n > cap(f.Payload.Buffers) && f.owner != nil {
		f.Payload.Buffers = f.owner.largeBuffers(n)
	}
	f.Payload.Buffers = append(f.Payload.Buffers[:0], m.Buffers...)
	f.Payload.Size = m.Size
	pool.ResetMemory(m)
}

// Retain adds a reference. Only a holder of a reference may call it.
func (f *Frame) Retain() { f.refs.Add(1) }

// Release drops a reference. The last one queues the frame back to its
// owner; the frame must not be touched afterwards.
func (f *Frame) Release() {
	switch n := f.refs.Add(-1); {
	case n == 0:
		f.owner.giveBack(f)
	case n < 0:
		panic("host: Frame released more often than retained")
	}
}

// Size is the payload length in bytes.
func (f *Frame) Size() int { return f.Payload.Size }

// FramePool recycles frames and their payloads for one publisher. Its
// methods other than the release path must be called on the owning
// goroutine, which is the only goroutine that touches the allocator.
type FramePool struct {
	alloc       *pool.Allocator
	free        []*Frame
	large       [][][]byte            // range slices larger than a frame's own, for reuse
	returned    atomic.Pointer[Frame] // lock-free stack of frames given back
	signal      chan struct{}         // wakes Close while it waits
	closing     atomic.Bool           // Close is waiting: only then do releases signal
	outstanding int                   // frames handed out and not yet back
	// holderFree are recycled holder slices (foreign.go) by size class:
	// class c has capacity minHolderSlice<<c.
	holderFree [holderClasses][][]Holder
}

// NewFramePool returns a pool whose frame payloads come from alloc.
func NewFramePool(alloc *pool.Allocator) *FramePool {
	return &FramePool{alloc: alloc, signal: make(chan struct{}, 1)}
}

// Allocator returns the allocator the payloads belong to.
func (p *FramePool) Allocator() *pool.Allocator { return p.alloc }

// Get returns an empty frame with one reference, reclaiming given-back
// frames first.
func (p *FramePool) Get() *Frame {
	p.Reclaim()
	var f *Frame
	if len(p.free) == 0 {
		p.grow()
	}
	n := len(p.free)
	f = p.free[n-1]
	p.free[n-1] = nil
	p.free = p.free[:n-1]
	f.refs.Store(1)
	p.outstanding++
	return f
}

// Frames are made in batches, each with room for the NAL units and payload
// ranges of a typical frame, so that filling a stream's ring costs a few
// allocations per batch rather than several per frame.
const (
	frameBatch      = 32
	unitsPerFrame   = 8 // SPS/PPS/SEI/slices of a typical access unit
	buffersPerFrame = 8 // payload ranges: one per RTMP chunk of a 32 KiB frame (more grow once, then circulate)
)

// Holder slices (foreign.go) come in power-of-two size classes from
// minHolderSlice, recycled per class by the pool: a frame's slice goes
// back when the frame is recycled, so frames carrying many holders (SRT
// keyframes) reuse each other's slices instead of growing fresh ones.
// Slices beyond the largest class are not pooled.
const (
	minHolderSlice = 8
	holderClasses  = 12 // up to 16,384 holders
)

// holderClass returns the size class whose capacity fits n holders.
func holderClass(n int) int {
	c := 0
	for minHolderSlice<<c < n {
		c++
	}
	return c
}

// growHolders returns a slice of the next size class holding hs's entries
// (from the class's free list when it has one) and recycles hs.
func (p *FramePool) growHolders(hs []Holder) []Holder {
	c := holderClass(len(hs) + 1)
	var b []Holder
	if c < holderClasses && len(p.holderFree[c]) > 0 {
		free := p.holderFree[c]
		b = free[len(free)-1]
		free[len(free)-1] = nil
		p.holderFree[c] = free[:len(free)-1]
	} else {
		b = make([]Holder, 0, minHolderSlice<<c)
	}
	b = append(b, hs...)
	p.putHolders(hs)
	return b
}

// putHolders recycles a holder slice of one of the size classes; others
// are left to the garbage collector.
func (p *FramePool) putHolders(hs []Holder) {
	n := cap(hs)
	if n < minHolderSlice {
		return
	}
	c := holderClass(n)
	if c >= holderClasses || minHolderSlice<<c != n {
		return
	}
	clear(hs[:n])
	p.holderFree[c] = append(p.holderFree[c], hs[:0])
}

// Reserve makes sure at least n frames exist, so a stream that will hold n
// frames in its ring allocates them all when it starts rather than while it
// runs.
func (p *FramePool) Reserve(n int) {
	for p.outstanding+len(p.free) < n {
		p.grow()
	}
}

func (p *FramePool) grow() {
	frames := make([]Frame, frameBatch)
	units := make([]codec.Span, frameBatch*unitsPerFrame)
	bufs := make([][]byte, frameBatch*buffersPerFrame)
	for i := range frames {
		f := &frames[i]
		f.owner = p
		// Three-index slices: an append past a frame's share reallocates
		// instead of running into its neighbour's.
		f.Units = units[i*unitsPerFrame : i*unitsPerFrame : (i+1)*unitsPerFrame]
		f.small = bufs[i*buffersPerFrame : i*buffersPerFrame : (i+1)*buffersPerFrame]
		f.Payload.Buffers = f.small
		p.free = append(p.free, f)
	}
}

// largeBuffers returns an empty range slice with room for n ranges,
// reusing one a recycled frame gave back when one is big enough.
func (p *FramePool) largeBuffers(n int) [][]byte {
	for i := len(p.large) - 1; i >= 0; i-- {
		if b := p.large[i]; cap(b) >= n {
			p.large = append(p.large[:i], p.large[i+1:]...)
			return b[:0]
		}
	}
	return make([][]byte, 0, max(2*n, 4*buffersPerFrame))
}

// Discard frees a frame that was never shared, on the owning goroutine.
func (p *FramePool) Discard(f *Frame) {
	if f.refs.Add(-1) != 0 {
		panic("host: Discard of a shared frame")
	}
	p.recycle(f)
}

func (p *FramePool) recycle(f *Frame) {
	if len(f.holders) > 0 {
		f.releaseForeign()
	} else {
		pool.FreeMemory(p.alloc, &f.Payload)
	}
	if f.holders != nil {
		p.putHolders(f.holders)
		f.holders = nil
	}
	if f.small != nil && cap(f.Payload.Buffers) > cap(f.small) {
		p.large = append(p.large, f.Payload.Buffers)
		f.Payload.Buffers = f.small[:0]
	}
	clear(f.Units)
	f.Units = f.Units[:0]
	f.Kind, f.Codec, f.Format, f.DTS, f.PTS, f.Keyframe = 0, 0, 0, 0, 0, false
	f.next = nil
	p.free = append(p.free, f)
	p.outstanding--
}

func (p *FramePool) giveBack(f *Frame) {
	for {
		head := p.returned.Load()
		f.next = head
		if p.returned.CompareAndSwap(head, f) {
			break
		}
	}
	// A channel send per released frame costs the hot path; only a waiting
	// Close needs the wake-up. Close sets closing before it reclaims, so a
	// frame pushed before that is reclaimed and one pushed after signals.
	if p.closing.Load() {
		select {
		case p.signal <- struct{}{}:
		default:
		}
	}
}

// Reclaim frees the payloads of every frame given back so far.
func (p *FramePool) Reclaim() {
	for f := p.returned.Swap(nil); f != nil; {
		next := f.next
		p.recycle(f)
		f = next
	}
}

// Outstanding is the number of frames not yet back in the pool.
func (p *FramePool) Outstanding() int { return p.outstanding }

// ErrFramesHeld is returned by Close when readers kept frames past the wait.
var ErrFramesHeld = errors.New("host: frames still held by readers")

// Close waits until every frame is back, freeing each payload, or until
// ctx ends. Only when it returns nil may the allocator be recycled.
func (p *FramePool) Close(ctx context.Context) error {
	p.closing.Store(true)
	defer p.closing.Store(false)
	for {
		p.Reclaim()
		if p.outstanding == 0 {
			return nil
		}
		select {
		case <-p.signal:
		case <-ctx.Done():
			return fmt.Errorf("%w: %d frames after %v", ErrFramesHeld, p.outstanding, context.Cause(ctx))
		}
	}
}

// VideoConfig is a video track's codec configuration, in a form every
// ingest protocol can fill: RTMP from its sequence header, RTSP from the
// SDP's sprop-parameter-sets, SRT from the parameter sets in the stream.
type VideoConfig struct {
	Codec codec.Codec
	// VPS (H.265 only), SPS and PPS are raw NAL units, without start codes
	// or length prefixes.
	VPS, SPS, PPS [][]byte
	// SequenceHeader is the FLV tag body of the sequence header when the
	// protocol received one (RTMP); FLV egress then forwards it unchanged.
	// When empty, FLV egress derives one from the parameter sets
	// (flv.VideoSequenceHeaderBody); host itself knows no container.
	SequenceHeader []byte
}

// AudioConfig is an audio track's codec configuration.
type AudioConfig struct {
	Codec codec.Codec
	// ASC is the AAC AudioSpecificConfig (RTMP sequence header, SDP
	// config=, or derived from an ADTS header).
	ASC                  []byte
	SampleRate, Channels int
	// SequenceHeader is the FLV tag body carrying the ASC, when received
	// (see flv.AudioSequenceHeaderBody).
	SequenceHeader []byte
}

// Clone returns a deep copy, so the host never aliases a protocol's buffer.
func (c VideoConfig) Clone() VideoConfig {
	c.VPS, c.SPS, c.PPS = cloneSets(c.VPS), cloneSets(c.SPS), cloneSets(c.PPS)
	c.SequenceHeader = bytes.Clone(c.SequenceHeader)
	return c
}

// Clone returns a deep copy.
func (c AudioConfig) Clone() AudioConfig {
	c.ASC = bytes.Clone(c.ASC)
	c.SequenceHeader = bytes.Clone(c.SequenceHeader)
	return c
}

func cloneSets(sets [][]byte) [][]byte {
	if sets == nil {
		return nil
	}
	out := make([][]byte, len(sets))
	for i, s := range sets {
		out[i] = bytes.Clone(s)
	}
	return out
}

// Publisher is one live publish. All methods except Context and Path must
// be called on the publishing goroutine.
type Publisher interface {
	Path() string
	// Context ends when the host ends the publish: kicked by a newer
	// publisher, silent past the publish timeout, or host shutdown.
	// context.Cause says which; the protocol should then close its
	// connection.
	Context() context.Context
	SetVideoConfig(VideoConfig) error
	SetAudioConfig(AudioConfig) error
	// Writer binds the publisher to the allocator every frame payload comes
	// from: the connection's own, as m7s's NewPublishVideoWriter(pub,
	// allocator) does. Call it once.
	Writer(alloc *pool.Allocator) FrameWriter
	// Close ends the publish with reason (nil for a normal unpublish). It
	// waits (bounded) until readers hand back every frame and frees them.
	// It reports whether the allocator may now be recycled.
	Close(reason error) (allocatorFree bool)
}

// FrameWriter writes frames, mirroring m7s's PublishWriter: fill Frame(),
// then call NextVideo or NextAudio. Never touch a frame after Next returns.
type FrameWriter interface {
	// Frame returns the frame to fill next. Its Payload is empty.
	Frame() *Frame
	// NextVideo and NextAudio publish the filled frame.
	NextVideo() error
	NextAudio() error
	// Drop frees the filled frame instead of publishing it.
	Drop()
}

// IngestStats is what a protocol reports about a publishing connection. The
// host shows it in its metrics; BytesCopied should stay 0 on the media path.
type IngestStats struct {
	BytesRead   int64 // bytes read from the socket
	BytesCopied int64 // bytes the ingest path copied (control data included)
	AllocMalloc int64 // the connection allocator's malloc total
	AllocFree   int64 // and its free total
	// Extra holds the protocol's own gauges for this connection (SRT loss,
	// retransmits, RTT, buffer), shown per stream by the host. The host
	// copies it; report it at most about once a second, since building the
	// map allocates.
	Extra map[string]float64
}

// IngestReporter is implemented by publishers that accept ingest counters.
// Call it from the publishing goroutine whenever convenient (it is cheap).
type IngestReporter interface {
	ReportIngest(IngestStats)
}

// MetadataSetter is implemented by publishers that keep script data
// (onMetaData) for joiners. The data is copied.
type MetadataSetter interface {
	SetMetadata(data []byte) error
}

// SubscriberCounter is implemented by publishers that know how many players
// read them, so a pull started on demand can end some time after the last
// one leaves.
type SubscriberCounter interface {
	Subscribers() int
}
