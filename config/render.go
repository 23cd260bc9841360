package config

import (
	"bytes"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// DefaultYAML renders section with the tag defaults of target's struct type,
// one key per field in field order, each preceded by its `desc:"..."` tag as
// a comment. Only target's type is used (a nil *T is fine), so the output is
// the shipped default whatever the caller loaded. Loading the output back
// with Apply yields exactly the defaults. It panics on a type Apply would
// reject, which is a programming error that any test calling it catches.
func DefaultYAML(section string, target any) string {
	t := reflect.TypeOf(target)
	if t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		panic(fmt.Sprintf("config: DefaultYAML needs a struct or pointer to struct, got %T", target))
	}
	v := reflect.New(t).Elem()
	if err := setDefaults(v, section); err != nil {
		panic(err)
	}
	body, err := renderStruct(v)
	if err != nil {
		panic(err)
	}
	root := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{strNode(section), body}}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2) // the m7s sample configs use two spaces
	if err := enc.Encode(root); err != nil {
		panic(fmt.Sprintf("config: DefaultYAML %s: %v", section, err))
	}
	if err := enc.Close(); err != nil {
		panic(fmt.Sprintf("config: DefaultYAML %s: %v", section, err))
	}
	return buf.String()
}

func renderStruct(v reflect.Value) (*yaml.Node, error) {
	fs, err := fieldsOf(v.Type())
	if err != nil {
		return nil, err
	}
	m := &yaml.Node{Kind: yaml.MappingNode}
	if len(fs) == 0 {
		m.Style = yaml.FlowStyle // "{}" rather than an empty block that reads back as null
	}
	for _, f := range fs {
		k := strNode(f.key)
		k.HeadComment = comment(f.desc)
		var val *yaml.Node
		if f.kind == kindStruct {
			if val, err = renderStruct(v.Field(f.index)); err != nil {
				return nil, err
			}
		} else {
			val = renderLeaf(v.Field(f.index))
		}
		m.Content = append(m.Content, k, val)
	}
	return m, nil
}

// comment turns a desc tag into YAML comment lines; every line gets its own
// '#', so a multi-line desc cannot spill into the document.
func comment(desc string) string {
	if desc == "" {
		return ""
	}
	lines := strings.Split(desc, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight("# "+l, " ")
	}
	return strings.Join(lines, "\n")
}

func strNode(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
}

// renderLeaf writes a value in the text form setText reads back. Strings
// carry the !!str tag so the encoder quotes those that would otherwise read
// as another type or as null ("true", "", "~").
func renderLeaf(fv reflect.Value) *yaml.Node {
	if fv.Type() == durationType {
		return strNode(time.Duration(fv.Int()).String())
	}
	switch fv.Kind() {
	case reflect.String:
		return strNode(fv.String())
	case reflect.Slice:
		seq := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
		for i := range fv.Len() {
			seq.Content = append(seq.Content, strNode(fv.Index(i).String()))
		}
		return seq
	case reflect.Bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(fv.Bool())}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatInt(fv.Int(), 10)}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatUint(fv.Uint(), 10)}
	default: // Float32, Float64: classify admits nothing else
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!float", Value: strconv.FormatFloat(fv.Float(), 'g', -1, fv.Type().Bits())}
	}
}
