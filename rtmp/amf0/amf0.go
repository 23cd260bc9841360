// Package amf0 decodes and encodes Action Message Format 0, the value
// encoding of RTMP commands (type 20) and data messages (type 18).
//
// Decoded values are plain Go values:
//
//	number        float64
//	boolean       bool
//	string        string (also long strings)
//	object        Object (ordered properties)
//	null          nil
//	undefined     Undefined (also the "unsupported" marker)
//	ECMA array    ECMAArray (ordered properties)
//	strict array  []Value
//	date          Date
//	XML document  XMLDocument
//	typed object  TypedObject
//
// References, movie clips, record sets and the switch to AMF3 are rejected
// with ErrUnsupported. Decoding never panics, never recurses deeper than
// MaxDepth and never builds more than MaxValues values (see limits.go).
// Decoded strings are copies: nothing returned aliases the input.
package amf0

import (
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/zcingest/zerocopy/limit"
)

// Value is any AMF0 value (see the package documentation for the mapping).
type Value = any

// Property is one key/value pair of an Object or ECMAArray.
type Property struct {
	Key   string
	Value Value
}

// Object is an anonymous AMF0 object; property order is kept.
type Object []Property

// ECMAArray is an AMF0 associative array; property order is kept.
type ECMAArray []Property

// Undefined is the AMF0 undefined value.
type Undefined struct{}

// Date is an AMF0 date: milliseconds since the Unix epoch and a time zone
// offset in minutes (which the spec says to ignore; it is kept for round trips).
type Date struct {
	Millis float64
	TZ     int16
}

// XMLDocument is an AMF0 XML document (a long string).
type XMLDocument string

// TypedObject is an AMF0 object with a class name.
type TypedObject struct {
	Class  string
	Object Object
}

// Markers.
const (
	markerNumber      = 0x00
	markerBoolean     = 0x01
	markerString      = 0x02
	markerObject      = 0x03
	markerMovieClip   = 0x04
	markerNull        = 0x05
	markerUndefined   = 0x06
	markerReference   = 0x07
	markerECMAArray   = 0x08
	markerObjectEnd   = 0x09
	markerStrictArray = 0x0A
	markerDate        = 0x0B
	markerLongString  = 0x0C
	markerUnsupported = 0x0D
	markerRecordSet   = 0x0E
	markerXMLDocument = 0x0F
	markerTypedObject = 0x10
	markerAVMPlus     = 0x11
)

// ErrUnsupported is returned for markers this package does not decode
// (reference, movie clip, record set, AVM+) and for Go values it cannot encode.
var ErrUnsupported = errors.New("amf0: unsupported type")

// ErrMalformed is returned for input that is not valid AMF0 (an object-end
// marker where a value is expected, an unknown marker).
var ErrMalformed = errors.New("amf0: malformed input")

// Get returns the value of the first property named key.
func (o Object) Get(key string) (Value, bool) { return get(o, key) }

// GetString returns the first property named key if it is a string.
func (o Object) GetString(key string) (string, bool) { s, ok := getV(o, key).(string); return s, ok }

// GetNumber returns the first property named key if it is a number.
func (o Object) GetNumber(key string) (float64, bool) { n, ok := getV(o, key).(float64); return n, ok }

// GetBool returns the first property named key if it is a boolean.
func (o Object) GetBool(key string) (bool, bool) { v, ok := getV(o, key).(bool); return v, ok }

// Get returns the value of the first property named key.
func (a ECMAArray) Get(key string) (Value, bool) { return get(a, key) }

// GetString returns the first property named key if it is a string.
func (a ECMAArray) GetString(key string) (string, bool) { s, ok := getV(a, key).(string); return s, ok }

// GetNumber returns the first property named key if it is a number.
func (a ECMAArray) GetNumber(key string) (float64, bool) {
	n, ok := getV(a, key).(float64)
	return n, ok
}

func get(ps []Property, key string) (Value, bool) {
	for _, p := range ps {
		if p.Key == key {
			return p.Value, true
		}
	}
	return nil, false
}

func getV(ps []Property, key string) Value { v, _ := get(ps, key); return v }

// ---- decoding ----

type decoder struct {
	b      []byte
	off    int
	values int
}

// Decode decodes the first value in b and returns it with the number of
// bytes it used.
func Decode(b []byte) (Value, int, error) {
	d := decoder{b: b}
	v, err := d.value(0)
	return v, d.off, err
}

// DecodeAll decodes every value in b. MaxValues bounds the values of all of
// them together.
func DecodeAll(b []byte) ([]Value, error) {
	d := decoder{b: b}
	var out []Value
	for d.off < len(d.b) {
		v, err := d.value(0)
		if err != nil {
			return out, fmt.Errorf("value %d: %w", len(out), err)
		}
		out = append(out, v)
	}
	return out, nil
}

func (d *decoder) errf(format string, args ...any) error {
	return fmt.Errorf("amf0 at offset %d: "+format, append([]any{d.off}, args...)...)
}

func (d *decoder) need(n int) error {
	if n < 0 || len(d.b)-d.off < n {
		return d.errf("need %d bytes, have %d: %w", n, len(d.b)-d.off, io.ErrUnexpectedEOF)
	}
	return nil
}

func (d *decoder) u8() (byte, error) {
	if err := d.need(1); err != nil {
		return 0, err
	}
	c := d.b[d.off]
	d.off++
	return c, nil
}

func (d *decoder) u16() (int, error) {
	if err := d.need(2); err != nil {
		return 0, err
	}
	v := int(d.b[d.off])<<8 | int(d.b[d.off+1])
	d.off += 2
	return v, nil
}

func (d *decoder) u32() (uint32, error) {
	if err := d.need(4); err != nil {
		return 0, err
	}
	p := d.b[d.off:]
	d.off += 4
	return uint32(p[0])<<24 | uint32(p[1])<<16 | uint32(p[2])<<8 | uint32(p[3]), nil
}

func (d *decoder) f64() (float64, error) {
	if err := d.need(8); err != nil {
		return 0, err
	}
	p := d.b[d.off:]
	d.off += 8
	var u uint64
	for _, c := range p[:8] {
		u = u<<8 | uint64(c)
	}
	return math.Float64frombits(u), nil
}

// str reads n bytes as a string; n has not been checked yet.
func (d *decoder) str(n int) (string, error) {
	if err := d.need(n); err != nil {
		return "", err
	}
	s := string(d.b[d.off : d.off+n])
	d.off += n
	return s, nil
}

func (d *decoder) shortString() (string, error) {
	n, err := d.u16()
	if err != nil {
		return "", err
	}
	return d.str(n)
}

func (d *decoder) longString() (string, error) {
	n, err := d.u32()
	if err != nil {
		return "", err
	}
	if uint64(n) > uint64(len(d.b)-d.off) {
		return "", d.errf("long string of %d bytes, have %d: %w", n, len(d.b)-d.off, io.ErrUnexpectedEOF)
	}
	return d.str(int(n))
}

func (d *decoder) count() error {
	d.values++
	if d.values > MaxValues {
		return &limit.LimitError{Name: "MaxValues", Limit: MaxValues, Got: int64(d.values)}
	}
	return nil
}

func (d *decoder) value(depth int) (Value, error) {
	if err := d.count(); err != nil {
		return nil, err
	}
	m, err := d.u8()
	if err != nil {
		return nil, err
	}
	switch m {
	case markerNumber:
		return d.f64()
	case markerBoolean:
		c, err := d.u8()
		return c != 0, err
	case markerString:
		return d.shortString()
	case markerLongString:
		return d.longString()
	case markerXMLDocument:
		s, err := d.longString()
		return XMLDocument(s), err
	case markerNull:
		return nil, nil
	case markerUndefined, markerUnsupported:
		return Undefined{}, nil
	case markerDate:
		ms, err := d.f64()
		if err != nil {
			return nil, err
		}
		tz, err := d.u16()
		return Date{Millis: ms, TZ: int16(tz)}, err
	case markerObject:
		if err := d.enter(depth); err != nil {
			return nil, err
		}
		ps, err := d.properties(depth+1, -1)
		return Object(ps), err
	case markerTypedObject:
		if err := d.enter(depth); err != nil {
			return nil, err
		}
		class, err := d.shortString()
		if err != nil {
			return nil, err
		}
		ps, err := d.properties(depth+1, -1)
		return TypedObject{Class: class, Object: ps}, err
	case markerECMAArray:
		if err := d.enter(depth); err != nil {
			return nil, err
		}
		n, err := d.u32()
		if err != nil {
			return nil, err
		}
		ps, err := d.properties(depth+1, int64(n))
		return ECMAArray(ps), err
	case markerStrictArray:
		if err := d.enter(depth); err != nil {
			return nil, err
		}
		return d.strictArray(depth + 1)
	case markerObjectEnd:
		d.off--
		return nil, d.errf("object-end marker where a value is expected: %w", ErrMalformed)
	case markerReference, markerMovieClip, markerRecordSet, markerAVMPlus:
		d.off--
		return nil, d.errf("marker %#02x: %w", m, ErrUnsupported)
	default:
		d.off--
		return nil, d.errf("unknown marker %#02x: %w", m, ErrMalformed)
	}
}

func (d *decoder) enter(depth int) error {
	if depth+1 > MaxDepth {
		return &limit.LimitError{Name: "MaxDepth", Limit: MaxDepth, Got: int64(depth + 1)}
	}
	return nil
}

// properties reads key/value pairs up to the object-end marker (00 00 09).
// For an ECMA array, ecmaCount is the declared count: it sizes nothing, but
// an array whose input ends right after that many properties, without the
// end marker, is accepted (some encoders omit it).
func (d *decoder) properties(depth int, ecmaCount int64) ([]Property, error) {
	var ps []Property
	for {
		if ecmaCount >= 0 && int64(len(ps)) == ecmaCount && d.off == len(d.b) {
			return ps, nil
		}
		key, err := d.shortString()
		if err != nil {
			return ps, err
		}
		if key == "" {
			if err := d.need(1); err != nil {
				return ps, err
			}
			if d.b[d.off] == markerObjectEnd {
				d.off++
				return ps, nil
			}
		}
		v, err := d.value(depth)
		if err != nil {
			return ps, fmt.Errorf("property %q: %w", key, err)
		}
		ps = append(ps, Property{Key: key, Value: v})
	}
}

func (d *decoder) strictArray(depth int) ([]Value, error) {
	n, err := d.u32()
	if err != nil {
		return nil, err
	}
	// Every element takes at least one byte, so a count larger than what is
	// left is a lie: reject it before looping.
	if uint64(n) > uint64(len(d.b)-d.off) {
		return nil, d.errf("strict array of %d elements, %d bytes left: %w", n, len(d.b)-d.off, io.ErrUnexpectedEOF)
	}
	if int64(n) > MaxValues {
		return nil, &limit.LimitError{Name: "MaxValues", Limit: MaxValues, Got: int64(n)}
	}
	out := []Value{}
	for i := uint32(0); i < n; i++ {
		v, err := d.value(depth)
		if err != nil {
			return out, fmt.Errorf("element %d: %w", i, err)
		}
		out = append(out, v)
	}
	return out, nil
}
