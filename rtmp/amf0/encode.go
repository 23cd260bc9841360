package amf0

import (
	"fmt"
	"math"

	"github.com/zcingest/zerocopy/limit"
)

// Append appends the encoding of v to b. v may be any type Decode returns,
// an int, int32, int64, uint32 or float32 (encoded as numbers), or a
// []Property (encoded as an object). Strings longer than 65535 bytes become
// long strings. Nesting deeper than MaxDepth (for example a slice that
// contains itself) fails with a *limit.LimitError.
func Append(b []byte, v Value) ([]byte, error) {
	return appendValue(b, v, 0)
}

// AppendAll appends the encodings of vs to b.
func AppendAll(b []byte, vs ...Value) ([]byte, error) {
	var err error
	for _, v := range vs {
		if b, err = appendValue(b, v, 0); err != nil {
			return b, err
		}
	}
	return b, nil
}

func appendValue(b []byte, v Value, depth int) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(b, markerNull), nil
	case float64:
		return AppendNumber(b, v), nil
	case float32:
		return AppendNumber(b, float64(v)), nil
	case int:
		return AppendNumber(b, float64(v)), nil
	case int32:
		return AppendNumber(b, float64(v)), nil
	case int64:
		return AppendNumber(b, float64(v)), nil
	case uint32:
		return AppendNumber(b, float64(v)), nil
	case bool:
		return AppendBool(b, v), nil
	case string:
		return AppendString(b, v), nil
	case Undefined:
		return append(b, markerUndefined), nil
	case XMLDocument:
		b = append(b, markerXMLDocument)
		return appendLongString(b, string(v)), nil
	case Date:
		b = append(b, markerDate)
		b = appendF64(b, v.Millis)
		return append(b, byte(uint16(v.TZ)>>8), byte(v.TZ)), nil
	case Object:
		return appendProps(append(b, markerObject), v, depth)
	case []Property:
		return appendProps(append(b, markerObject), v, depth)
	case TypedObject:
		if depth+1 > MaxDepth {
			return b, &limit.LimitError{Name: "MaxDepth", Limit: MaxDepth, Got: int64(depth + 1)}
		}
		b = append(b, markerTypedObject)
		b = appendShortKey(b, v.Class)
		return appendProps(b, v.Object, depth)
	case ECMAArray:
		b = append(b, markerECMAArray)
		b = appendU32(b, uint32(len(v)))
		return appendProps(b, v, depth)
	case []Value:
		if depth+1 > MaxDepth {
			return b, &limit.LimitError{Name: "MaxDepth", Limit: MaxDepth, Got: int64(depth + 1)}
		}
		b = append(b, markerStrictArray)
		b = appendU32(b, uint32(len(v)))
		var err error
		for _, e := range v {
			if b, err = appendValue(b, e, depth+1); err != nil {
				return b, err
			}
		}
		return b, nil
	default:
		return b, fmt.Errorf("amf0: cannot encode %T: %w", v, ErrUnsupported)
	}
}

func appendProps(b []byte, ps []Property, depth int) ([]byte, error) {
	if depth+1 > MaxDepth {
		return b, &limit.LimitError{Name: "MaxDepth", Limit: MaxDepth, Got: int64(depth + 1)}
	}
	var err error
	for _, p := range ps {
		b = appendShortKey(b, p.Key)
		if b, err = appendValue(b, p.Value, depth+1); err != nil {
			return b, err
		}
	}
	return append(b, 0, 0, markerObjectEnd), nil
}

// appendShortKey appends a property key or class name: a 16-bit length and
// the bytes. Keys longer than 65535 bytes are truncated (AMF0 cannot carry them).
func appendShortKey(b []byte, s string) []byte {
	if len(s) > math.MaxUint16 {
		s = s[:math.MaxUint16]
	}
	b = append(b, byte(len(s)>>8), byte(len(s)))
	return append(b, s...)
}

func appendLongString(b []byte, s string) []byte {
	b = appendU32(b, uint32(len(s)))
	return append(b, s...)
}

func appendU32(b []byte, v uint32) []byte {
	return append(b, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

func appendF64(b []byte, f float64) []byte {
	u := math.Float64bits(f)
	return append(b, byte(u>>56), byte(u>>48), byte(u>>40), byte(u>>32), byte(u>>24), byte(u>>16), byte(u>>8), byte(u))
}

// AppendNumber appends an AMF0 number.
func AppendNumber(b []byte, f float64) []byte {
	return appendF64(append(b, markerNumber), f)
}

// AppendBool appends an AMF0 boolean.
func AppendBool(b []byte, v bool) []byte {
	c := byte(0)
	if v {
		c = 1
	}
	return append(b, markerBoolean, c)
}

// AppendString appends an AMF0 string, or a long string when s is longer
// than 65535 bytes.
func AppendString(b []byte, s string) []byte {
	if len(s) > math.MaxUint16 {
		return appendLongString(append(b, markerLongString), s)
	}
	return appendShortKey(append(b, markerString), s)
}

// AppendNull appends an AMF0 null.
func AppendNull(b []byte) []byte { return append(b, markerNull) }

// ---- commands ----

// Command is a decoded RTMP command message: its name, transaction id,
// command object (usually an Object, or nil for null) and the remaining
// arguments.
type Command struct {
	Name          string
	TransactionID float64
	Object        Value
	Args          []Value
}

// DecodeCommand decodes an AMF0 command body: a string name, a number
// transaction id, and optionally a command object and further arguments. A
// body that ends after the name has transaction id 0.
func DecodeCommand(b []byte) (Command, error) {
	var c Command
	vs, err := DecodeAll(b)
	if err != nil {
		return c, fmt.Errorf("amf0 command: %w", err)
	}
	if len(vs) == 0 {
		return c, fmt.Errorf("amf0 command: empty body: %w", ErrMalformed)
	}
	name, ok := vs[0].(string)
	if !ok {
		return c, fmt.Errorf("amf0 command: name is %T, not a string: %w", vs[0], ErrMalformed)
	}
	c.Name = name
	if len(vs) > 1 {
		txn, ok := vs[1].(float64)
		if !ok {
			return c, fmt.Errorf("amf0 command %q: transaction id is %T, not a number: %w", name, vs[1], ErrMalformed)
		}
		c.TransactionID = txn
	}
	if len(vs) > 2 {
		c.Object = vs[2]
	}
	if len(vs) > 3 {
		c.Args = vs[3:]
	}
	return c, nil
}

// AppendCommand appends a command: name, transaction id, command object
// (nil encodes null) and args.
func AppendCommand(b []byte, name string, txn float64, object Value, args ...Value) ([]byte, error) {
	b = AppendString(b, name)
	b = AppendNumber(b, txn)
	b, err := Append(b, object)
	if err != nil {
		return b, err
	}
	return AppendAll(b, args...)
}

// AppendResult appends a "_result" reply to transaction txn with the given
// properties object (nil for null) and information values (for a connect
// reply an Object with level/code/description; for createStream the new
// stream id as a number).
func AppendResult(b []byte, txn float64, properties Value, info ...Value) ([]byte, error) {
	return AppendCommand(b, "_result", txn, properties, info...)
}

// AppendError appends an "_error" reply to transaction txn.
func AppendError(b []byte, txn float64, properties Value, info ...Value) ([]byte, error) {
	return AppendCommand(b, "_error", txn, properties, info...)
}

// AppendOnStatus appends an "onStatus" command (transaction id 0, null
// command object) whose info object has level, code and description, plus
// any extra properties.
func AppendOnStatus(b []byte, level, code, description string, extra ...Property) ([]byte, error) {
	info := make(Object, 0, 3+len(extra))
	info = append(info,
		Property{Key: "level", Value: level},
		Property{Key: "code", Value: code},
		Property{Key: "description", Value: description})
	info = append(info, extra...)
	return AppendCommand(b, "onStatus", 0, nil, info)
}

// AppendSampleAccess appends the "|RtmpSampleAccess" data message a server
// sends before playback (audio and video sample access flags).
func AppendSampleAccess(b []byte, audio, video bool) []byte {
	b = AppendString(b, "|RtmpSampleAccess")
	b = AppendBool(b, audio)
	return AppendBool(b, video)
}

// AppendOnMetaData appends an "onMetaData" data message carrying meta as an
// ECMA array (the form players expect).
func AppendOnMetaData(b []byte, meta []Property) ([]byte, error) {
	b = AppendString(b, "onMetaData")
	return Append(b, ECMAArray(meta))
}
