package config

import (
	"fmt"

	"gopkg.in/yaml.v3"
)

// Enabled decides whether a plugin section should be started, before its
// struct is decoded, so a disabled plugin's config is never validated
// against a struct that may not even be linked in.
//
// The section's own setting wins when it is explicit: <PREFIX>_ENABLE in
// environ (non-empty, any bool spelling) beats the section's "enable" key
// in node. With neither, the plugin is enabled unless disableAll (the host's
// global.disableall) is set; so under disableall only an explicit
// "enable: true" turns a plugin on, as in m7s. One difference from m7s:
// there ZEROCOPY_ENABLE=true does not override disableall; here the
// environment beats the file for enable as for every other key.
//
// section names the section in errors; envPrefix "" ignores the
// environment. A non-bool value is an *Error naming the key or variable.
func Enabled(section string, node *yaml.Node, envPrefix string, environ []string, disableAll bool) (bool, error) {
	if prefix := envName(envPrefix); prefix != "" {
		name := prefix + "_ENABLE"
		if s := envMap(environ)[name]; s != "" {
			b, err := parseBool(s)
			if err != nil {
				return false, &Error{Path: joinPath(section, "enable"), Env: name, Value: s, Type: "bool", Err: err}
			}
			return b, nil
		}
	}
	set, err := enableKey(section, node)
	if err != nil {
		return false, err
	}
	if set != nil {
		return *set, nil
	}
	return !disableAll, nil
}

// enableKey returns the section's explicit enable value, or nil when the
// section has none.
func enableKey(section string, node *yaml.Node) (*bool, error) {
	node = deref(node)
	if isNull(node) {
		return nil, nil
	}
	if node.Kind != yaml.MappingNode {
		return nil, &Error{Path: section, Line: node.Line, Err: fmt.Errorf("want a mapping, got %s", kindName(node))}
	}
	var found *bool
	seen, line := false, 0 // whether an enable key was seen, and where
	for i := 0; i+1 < len(node.Content); i += 2 {
		kn := deref(node.Content[i])
		if kn == nil || kn.Kind != yaml.ScalarNode || foldKey(kn.Value) != "enable" {
			continue
		}
		p := joinPath(section, kn.Value)
		if seen {
			return nil, &Error{Path: p, Line: kn.Line, Err: fmt.Errorf("key repeats the one on line %d", line)}
		}
		b, err := enableFromNode(node.Content[i+1], p)
		if err != nil {
			return nil, err
		}
		found, seen, line = b, true, kn.Line
	}
	return found, nil
}

// enableFromNode parses the value of an enable key; nil means null.
func enableFromNode(n *yaml.Node, path string) (*bool, error) {
	n = deref(n)
	if isNull(n) {
		return nil, nil
	}
	if n.Kind != yaml.ScalarNode {
		return nil, &Error{Path: path, Line: n.Line, Err: fmt.Errorf("want bool, got %s", kindName(n))}
	}
	b, err := parseBool(n.Value)
	if err != nil {
		return nil, &Error{Path: path, Line: n.Line, Value: n.Value, Type: "bool", Err: err}
	}
	return &b, nil
}
