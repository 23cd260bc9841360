package config

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Apply fills the struct that target points to, in m7s priority order:
//
//  1. each field tagged `default:"..."` gets that value (fields without the
//     tag keep what target held, so a host may preset values in code);
//  2. the YAML section node (from File.Section; nil means absent) overlays it;
//  3. environment variables <PREFIX>_<FIELD>[_<FIELD>...] from environ
//     (os.Environ form, "K=V") overlay that. An empty envPrefix turns the
//     environment off, so bare names such as ENABLE or PATH are never read.
//
// section names the section in error paths ("zerocopy.rtmp.listenaddr").
// Keys match the Go field name or its `yaml:"name"` tag after folding case
// and dropping '-' and '_', as m7s does, so "ListenAddr", "listen_addr" and
// "listenaddr" are one key. An unknown or repeated key, or a value that does
// not parse, is an *Error. A top-level "enable" key is accepted even when the
// struct has no Enable field, because it belongs to Enabled.
//
// Apply works on a copy and stores it only on success: after an error,
// *target is unchanged. An unsupported field type or a bad default tag is a
// programming error and is returned as a plain error.
func Apply(target any, section string, node *yaml.Node, envPrefix string, environ []string) error {
	rv := reflect.ValueOf(target)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("config: Apply needs a non-nil pointer to a struct, got %T", target)
	}
	t := rv.Elem().Type()
	work := reflect.New(t).Elem()
	work.Set(rv.Elem())
	if err := setDefaults(work, section); err != nil {
		return err
	}
	if err := applyNode(work, node, section, true); err != nil {
		return err
	}
	if prefix := envName(envPrefix); prefix != "" {
		if err := applyEnv(work, envMap(environ), prefix, section); err != nil {
			return err
		}
	}
	if err := checkRanges(work, section); err != nil {
		return err
	}
	rv.Elem().Set(work)
	return nil
}

// valueKind sorts field types into the three shapes a config value can take.
type valueKind int

const (
	kindScalar valueKind = iota // bool, ints, uints, floats, string, time.Duration
	kindList                    // []string
	kindStruct                  // nested struct = nested mapping
)

// field is one config key of a struct type.
type field struct {
	key    string // folded YAML key
	env    string // environment segment: the Go field name uppercased, as m7s builds it
	index  int
	typ    reflect.Type
	kind   valueKind
	def    string
	hasDef bool
	desc   string
	// min and max are the `min:"…"` and `max:"…"` tags, in the field's
	// own syntax ("1s", "65536"); "" means unbounded.
	min, max string
}

var durationType = reflect.TypeFor[time.Duration]()

// foldKey is the m7s key normalisation: lowercase, '-' and '_' removed.
func foldKey(s string) string {
	s = strings.ToLower(s)
	if strings.ContainsAny(s, "-_") {
		s = strings.NewReplacer("-", "", "_", "").Replace(s)
	}
	return s
}

// fieldsOf lists the config keys of struct type t. It rejects field types the
// loader cannot fill and keys that collide after folding, so such mistakes
// fail on the first Apply instead of silently ignoring a key.
func fieldsOf(t reflect.Type) ([]field, error) {
	var fs []field
	seen := map[string]string{}
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		key := foldKey(name)
		if key == "" {
			return nil, fmt.Errorf("config: %s.%s: yaml tag %q folds to an empty key", t, sf.Name, name)
		}
		if other, dup := seen[key]; dup {
			return nil, fmt.Errorf("config: %s: fields %s and %s share the key %q", t, other, sf.Name, key)
		}
		seen[key] = sf.Name
		kind, err := classify(sf.Type)
		if err != nil {
			return nil, fmt.Errorf("config: %s.%s: %w", t, sf.Name, err)
		}
		def, hasDef := sf.Tag.Lookup("default")
		if hasDef && kind == kindStruct {
			return nil, fmt.Errorf("config: %s.%s: a nested struct takes defaults from its own fields, not a default tag", t, sf.Name)
		}
		f := field{
			key: key, env: strings.ToUpper(sf.Name), index: i, typ: sf.Type, kind: kind,
			def: def, hasDef: hasDef, desc: sf.Tag.Get("desc"),
			min: sf.Tag.Get("min"), max: sf.Tag.Get("max"),
		}
		if err := checkBoundTags(f); err != nil {
			return nil, fmt.Errorf("config: %s.%s: %w", t, sf.Name, err)
		}
		fs = append(fs, f)
	}
	return fs, nil
}

func classify(t reflect.Type) (valueKind, error) {
	if t == durationType {
		return kindScalar, nil
	}
	switch t.Kind() {
	case reflect.Bool, reflect.String,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return kindScalar, nil
	case reflect.Slice:
		if t.Elem().Kind() == reflect.String {
			return kindList, nil
		}
	case reflect.Struct:
		return kindStruct, nil
	}
	return 0, fmt.Errorf("unsupported field type %s", t)
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func setDefaults(v reflect.Value, path string) error {
	fs, err := fieldsOf(v.Type())
	if err != nil {
		return err
	}
	for _, f := range fs {
		fv, p := v.Field(f.index), joinPath(path, f.key)
		switch {
		case f.kind == kindStruct:
			if err := setDefaults(fv, p); err != nil {
				return err
			}
		case f.hasDef:
			if err := setText(fv, f.kind, f.def); err != nil {
				return fmt.Errorf("config: %s: bad default tag %q for %s: %w", p, f.def, typeName(f.typ), err)
			}
		}
	}
	return nil
}

// applyNode overlays a YAML node onto struct value v. top marks the section
// itself, where a stray "enable" key is allowed (see Apply).
func applyNode(v reflect.Value, node *yaml.Node, path string, top bool) error {
	node = deref(node)
	if isNull(node) {
		return nil
	}
	fs, err := fieldsOf(v.Type())
	if err != nil {
		return err
	}
	switch node.Kind {
	case yaml.MappingNode:
	case yaml.ScalarNode:
		// m7s shorthand: a scalar given for a struct sets its first field,
		// e.g. "tcp: :1935" for "tcp: {listenaddr: :1935}".
		if len(fs) > 0 && fs[0].kind != kindStruct && !top {
			f := fs[0]
			return applyLeaf(v.Field(f.index), f, node, joinPath(path, f.key))
		}
		fallthrough
	default:
		return &Error{Path: path, Line: node.Line, Err: fmt.Errorf("want a mapping, got %s", kindName(node))}
	}
	byKey := make(map[string]int, len(fs))
	for i, f := range fs {
		byKey[f.key] = i
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(node.Content); i += 2 {
		kn, vn := deref(node.Content[i]), node.Content[i+1]
		if kn == nil || kn.Kind != yaml.ScalarNode {
			return &Error{Path: path, Line: node.Content[i].Line, Err: errors.New("key must be a scalar")}
		}
		key := foldKey(kn.Value)
		p := joinPath(path, kn.Value)
		if line, dup := seen[key]; dup {
			return &Error{Path: p, Line: kn.Line, Err: fmt.Errorf("key repeats the one on line %d", line)}
		}
		seen[key] = kn.Line
		idx, ok := byKey[key]
		if !ok {
			if top && key == "enable" {
				// Owned by Enabled; still checked so a typo in the value
				// fails here even if the host never called Enabled.
				if _, err := enableFromNode(vn, p); err != nil {
					return err
				}
				continue
			}
			return &Error{Path: p, Line: kn.Line, Err: ErrUnknownKey}
		}
		f := fs[idx]
		fv := v.Field(f.index)
		if f.kind == kindStruct {
			if err := applyNode(fv, vn, joinPath(path, f.key), false); err != nil {
				return err
			}
			continue
		}
		if err := applyLeaf(fv, f, vn, joinPath(path, f.key)); err != nil {
			return err
		}
	}
	return nil
}

// applyLeaf sets a scalar or list field from a YAML node.
func applyLeaf(fv reflect.Value, f field, n *yaml.Node, path string) error {
	n = deref(n)
	if isNull(n) {
		return nil
	}
	if f.kind == kindList && n.Kind == yaml.SequenceNode {
		var items []string
		for _, it := range n.Content {
			it = deref(it)
			if it == nil || it.Kind != yaml.ScalarNode || isNull(it) {
				return &Error{Path: path, Line: n.Line, Err: errors.New("list items must be non-null scalars")}
			}
			items = append(items, it.Value)
		}
		setList(fv, items)
		return nil
	}
	if n.Kind != yaml.ScalarNode {
		want := typeName(f.typ)
		return &Error{Path: path, Line: n.Line, Err: fmt.Errorf("want %s, got %s", want, kindName(n))}
	}
	if err := setText(fv, f.kind, n.Value); err != nil {
		return &Error{Path: path, Line: n.Line, Value: n.Value, Type: typeName(f.typ), Err: err}
	}
	return nil
}

// envName turns a prefix into the form variables use: uppercase, no
// trailing '_'.
func envName(prefix string) string {
	return strings.TrimRight(strings.ToUpper(prefix), "_")
}

// envMap indexes environ. The first entry for a name wins, as with
// os.Getenv, so the loader and the rest of the process agree on a value.
func envMap(environ []string) map[string]string {
	m := make(map[string]string, len(environ))
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		if _, dup := m[k]; !dup {
			m[k] = v
		}
	}
	return m
}

// applyEnv overlays environment variables. An empty value counts as unset,
// as in m7s, so "ZEROCOPY_X=" in a compose file does not clear a field.
// Unknown variables under the prefix are ignored: the environment is shared
// with other programs, unlike the config file.
func applyEnv(v reflect.Value, env map[string]string, prefix, path string) error {
	fs, err := fieldsOf(v.Type())
	if err != nil {
		return err
	}
	for _, f := range fs {
		name, p := prefix+"_"+f.env, joinPath(path, f.key)
		fv := v.Field(f.index)
		if f.kind == kindStruct {
			if err := applyEnv(fv, env, name, p); err != nil {
				return err
			}
			continue
		}
		s := env[name]
		if s == "" {
			continue
		}
		if err := setText(fv, f.kind, s); err != nil {
			return &Error{Path: p, Env: name, Value: s, Type: typeName(f.typ), Err: err}
		}
	}
	return nil
}

// setText parses s into fv. The same rules serve default tags, YAML scalars
// and environment values, so a value means the same wherever it is written.
// The error is the bare reason (the caller adds path and value).
func setText(fv reflect.Value, kind valueKind, s string) error {
	if kind == kindList {
		setList(fv, splitList(s))
		return nil
	}
	if fv.Type() == durationType {
		d, err := time.ParseDuration(s)
		if err != nil {
			// time's message repeats the value; the caller already shows it.
			return errors.New("want a Go duration such as 500ms, 10s or 1h30m")
		}
		fv.SetInt(int64(d))
		return nil
	}
	switch fv.Kind() {
	case reflect.String:
		fv.SetString(s)
	case reflect.Bool:
		b, err := parseBool(s)
		if err != nil {
			return err
		}
		fv.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(s, intBase(s), fv.Type().Bits())
		if err != nil {
			return numErr(err)
		}
		fv.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(s, intBase(s), fv.Type().Bits())
		if err != nil {
			return numErr(err)
		}
		fv.SetUint(n)
	case reflect.Float32, reflect.Float64:
		x, err := strconv.ParseFloat(s, fv.Type().Bits())
		if err != nil {
			return numErr(err)
		}
		fv.SetFloat(x)
	default:
		return fmt.Errorf("unsupported type %s", fv.Type())
	}
	return nil
}

// intBase picks base 10 unless the text carries an explicit 0x, 0o or 0b
// prefix. Plain base 0 would read "010" as octal 8, which YAML 1.2 and
// operators both read as ten.
func intBase(s string) int {
	t := strings.TrimLeft(s, "+-")
	if len(t) > 1 && t[0] == '0' && strings.ContainsRune("xXoObB", rune(t[1])) {
		return 0
	}
	return 10
}

// numErr drops strconv's "parsing ...: " preamble, which repeats the value.
func numErr(err error) error {
	var ne *strconv.NumError
	if errors.As(err, &ne) {
		if errors.Is(ne.Err, strconv.ErrRange) {
			return errors.New("out of range")
		}
		return errors.New("not a number")
	}
	return err
}

// parseBool accepts strconv's spellings plus YAML 1.1's yes/no/on/off,
// which yaml.v3 (and so m7s) accepts for bool fields.
func parseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "yes", "on":
		return true, nil
	case "no", "off":
		return false, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, errors.New("want true or false")
	}
	return b, nil
}

// splitList reads the comma-separated form of a []string. Items are
// trimmed and empty ones dropped, so "a, b," is [a b] and "" is nil.
func splitList(s string) []string {
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// setList stores items as a fresh slice of fv's type (which may be a named
// []string), never appending into a slice the caller may still hold. An empty
// list is stored as nil, whatever form it was written in.
func setList(fv reflect.Value, items []string) {
	if len(items) == 0 {
		fv.SetZero()
		return
	}
	s := reflect.MakeSlice(fv.Type(), len(items), len(items))
	for i, it := range items {
		s.Index(i).SetString(it)
	}
	fv.Set(s)
}

// typeName names a field type the way an operator reads it.
func typeName(t reflect.Type) string {
	switch {
	case t == durationType:
		return "duration"
	case t.Kind() == reflect.Slice:
		return "list of strings"
	}
	return t.Kind().String()
}
