package config

import (
	"errors"
	"fmt"
	"strings"
)

// ErrUnknownKey is the reason of an *Error for a key that names no field.
// A host may branch on it (errors.Is) to print the keys a section accepts.
var ErrUnknownKey = errors.New("unknown key")

// Error reports one rejected key or value from the YAML file or the
// environment. Values are echoed only for non-string fields (a string field
// accepts any text), so a secret kept in a string field never reaches a log
// through this error.
type Error struct {
	Path  string // dotted key path, e.g. "zerocopy.rtmp.listenaddr"
	Env   string // the environment variable that held Value; "" for YAML
	Line  int    // 1-based line in the YAML file; 0 for environment values
	Value string // the rejected text; "" for key and shape errors
	Type  string // the expected type, e.g. "uint16" or "duration"; "" for key and shape errors
	Err   error  // the reason: ErrUnknownKey, or why Value was rejected
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Env != "" {
		b.WriteString(e.Env)
	} else {
		b.WriteString(e.Path)
	}
	b.WriteString(": ")
	if e.Type != "" {
		v := e.Value
		if len(v) > maxShownValue {
			v = v[:maxShownValue] + "..."
		}
		fmt.Fprintf(&b, "cannot use %q as %s: ", v, e.Type)
	}
	b.WriteString(e.Err.Error())
	switch {
	case e.Env != "":
		fmt.Fprintf(&b, " (key %s)", e.Path)
	case e.Line > 0:
		fmt.Fprintf(&b, " (line %d)", e.Line)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }
