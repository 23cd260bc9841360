// Package message parses the RTMP messages a server acts on: protocol
// control messages (types 1, 2, 3, 5, 6), user control messages (type 4),
// commands (types 20 and 17) and data messages (types 18 and 15).
// Audio, video and aggregate messages are media: they are left to the
// caller untouched (Parse returns ErrMedia), so their payload ranges can be
// moved into frames without a copy.
package message

import (
	"errors"
	"fmt"

	"github.com/zcingest/zerocopy/limit"
	"github.com/zcingest/zerocopy/rtmp/amf0"
	"github.com/zcingest/zerocopy/rtmp/chunk"
)

// SetChunkSize is protocol control message 1.
type SetChunkSize struct{ Size uint32 }

// Abort is protocol control message 2.
type Abort struct{ CSID uint32 }

// Ack is protocol control message 3: the peer's count of bytes received.
type Ack struct{ Sequence uint32 }

// WindowAckSize is protocol control message 5.
type WindowAckSize struct{ Size uint32 }

// SetPeerBandwidth is protocol control message 6.
type SetPeerBandwidth struct {
	Size      uint32
	LimitType uint8 // chunk.LimitHard, LimitSoft or LimitDynamic
}

// UserControl is message type 4. Data is the first argument (a stream id
// for most events, a timestamp for pings); Data2 is the buffer length of
// SetBufferLength.
type UserControl struct {
	Event uint16
	Data  uint32
	Data2 uint32
}

// Command is a command message (type 20, or 17 with an AMF0 body).
type Command = amf0.Command

// Data is a data message (type 18, or 15 with an AMF0 body), such as
// "@setDataFrame", "onMetaData", metadata.
type Data struct {
	Name   string // the first value when it is a string, else ""
	Values []amf0.Value
}

// ErrMedia is returned by Parse for audio, video and aggregate messages.
var ErrMedia = errors.New("rtmp message: media message")

// ErrUnknownType is returned by Parse for message types it does not know
// (for example shared objects, types 16 and 19).
var ErrUnknownType = errors.New("rtmp message: unknown type")

// ErrMalformed is wrapped by errors for messages too short for their type
// or with a body that does not decode.
var ErrMalformed = errors.New("rtmp message: malformed")

// Parse decodes m according to its type and returns one of SetChunkSize,
// Abort, Ack, WindowAckSize, SetPeerBandwidth, UserControl, Command or
// Data. It copies a payload made of several ranges into scratch (see
// chunk.Contiguous), so it refuses payloads longer than MaxCommandLength
// with a *limit.LimitError. m is not freed.
func Parse(m *chunk.Message, scratch []byte) (any, error) {
	switch m.TypeID {
	case chunk.TypeAudio, chunk.TypeVideo, chunk.TypeAggregate:
		return nil, ErrMedia
	}
	if m.Length > MaxCommandLength {
		return nil, fmt.Errorf("rtmp message type %d: %w", m.TypeID,
			&limit.LimitError{Name: "MaxCommandLength", Limit: MaxCommandLength, Got: int64(m.Length)})
	}
	return ParsePayload(m.TypeID, chunk.Contiguous(m, scratch))
}

// ParsePayload is Parse for a contiguous payload.
func ParsePayload(typeID uint8, p []byte) (any, error) {
	switch typeID {
	case chunk.TypeSetChunkSize:
		v, err := u32(typeID, p)
		return SetChunkSize{Size: v}, err
	case chunk.TypeAbort:
		v, err := u32(typeID, p)
		return Abort{CSID: v}, err
	case chunk.TypeAck:
		v, err := u32(typeID, p)
		return Ack{Sequence: v}, err
	case chunk.TypeWindowAckSize:
		v, err := u32(typeID, p)
		return WindowAckSize{Size: v}, err
	case chunk.TypeSetPeerBandwidth:
		if len(p) < 5 {
			return nil, short(typeID, len(p), 5)
		}
		v, _ := u32(typeID, p)
		return SetPeerBandwidth{Size: v, LimitType: p[4]}, nil
	case chunk.TypeUserControl:
		return ParseUserControl(p)
	case chunk.TypeCommandAMF0:
		return ParseCommand(p)
	case chunk.TypeCommandAMF3:
		return ParseCommand(skipAMF3Marker(p))
	case chunk.TypeDataAMF0:
		return ParseData(p)
	case chunk.TypeDataAMF3:
		return ParseData(skipAMF3Marker(p))
	case chunk.TypeAudio, chunk.TypeVideo, chunk.TypeAggregate:
		return nil, ErrMedia
	}
	return nil, fmt.Errorf("rtmp message type %d: %w", typeID, ErrUnknownType)
}

// skipAMF3Marker drops the leading 0x00 with which AMF3 command and data
// messages (types 17 and 15) announce an AMF0 body.
func skipAMF3Marker(p []byte) []byte {
	if len(p) > 0 && p[0] == 0 {
		return p[1:]
	}
	return p
}

func short(typeID uint8, got, want int) error {
	return fmt.Errorf("rtmp message type %d: %d-byte payload, want %d: %w", typeID, got, want, ErrMalformed)
}

func u32(typeID uint8, p []byte) (uint32, error) {
	if len(p) < 4 {
		return 0, short(typeID, len(p), 4)
	}
	return uint32(p[0])<<24 | uint32(p[1])<<16 | uint32(p[2])<<8 | uint32(p[3]), nil
}

// ParseUserControl decodes a user control message body.
func ParseUserControl(p []byte) (UserControl, error) {
	if len(p) < 2 {
		return UserControl{}, short(chunk.TypeUserControl, len(p), 6)
	}
	uc := UserControl{Event: uint16(p[0])<<8 | uint16(p[1])}
	args := p[2:]
	need := 4
	if uc.Event == chunk.EventSetBufferLength {
		need = 8
	}
	if len(args) < need {
		return uc, short(chunk.TypeUserControl, len(p), 2+need)
	}
	uc.Data, _ = u32(chunk.TypeUserControl, args)
	if need == 8 {
		uc.Data2, _ = u32(chunk.TypeUserControl, args[4:])
	}
	return uc, nil
}

// ParseCommand decodes an AMF0 command body.
func ParseCommand(p []byte) (Command, error) {
	c, err := amf0.DecodeCommand(p)
	if err != nil {
		return c, fmt.Errorf("rtmp message: %w: %w", ErrMalformed, err)
	}
	return c, nil
}

// ParseData decodes an AMF0 data message body.
func ParseData(p []byte) (Data, error) {
	vs, err := amf0.DecodeAll(p)
	if err != nil {
		return Data{}, fmt.Errorf("rtmp message: data: %w: %w", ErrMalformed, err)
	}
	d := Data{Values: vs}
	if len(vs) > 0 {
		d.Name, _ = vs[0].(string)
	}
	return d, nil
}

// MetaData returns the metadata carried by a data message: the first
// object or ECMA array after an "onMetaData" name (itself optionally after
// "@setDataFrame"), as properties.
func (d Data) MetaData() ([]amf0.Property, bool) {
	vs := d.Values
	if len(vs) > 0 && vs[0] == "@setDataFrame" {
		vs = vs[1:]
	}
	if len(vs) < 2 || vs[0] != "onMetaData" {
		return nil, false
	}
	switch m := vs[1].(type) {
	case amf0.ECMAArray:
		return m, true
	case amf0.Object:
		return m, true
	}
	return nil, false
}
