package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/zcingest/zerocopy/limit"
)

// File is a parsed config file: one raw YAML node per top-level section.
// Nodes are decoded later by Apply, once the host knows which struct each
// section belongs to.
type File struct {
	Path     string
	names    []string
	sections map[string]*yaml.Node
}

// LoadFile reads and parses the YAML config at path. See Parse.
func LoadFile(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	// Read one byte past the limit so an oversized file is told apart from
	// one of exactly MaxFileSize, without trusting Stat (pipes report 0).
	data, err := io.ReadAll(io.LimitReader(fh, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return Parse(path, data)
}

// Parse parses data as a config file named name (used only in errors).
// The top level must be a mapping of section names; names are folded to
// lowercase, as m7s does, and a name that repeats after folding is an error.
// Syntax errors are reported as "name:line: reason". Empty input is a file
// with no sections. Only one YAML document is accepted, so a stray "---"
// cannot silently hide the rest of the file.
func Parse(name string, data []byte) (f *File, err error) {
	if err := limit.Check("MaxFileSize", int64(len(data)), MaxFileSize); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	// A config file is operator input, not peer input, but a crash with a
	// parser stack trace is still a worse answer than an error naming the
	// file; yaml.v3 has had panicking inputs before (CVE-2022-28948).
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, fmt.Errorf("%s: yaml parser panic: %v", name, r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return &File{Path: name, sections: map[string]*yaml.Node{}}, nil
		}
		return nil, syntaxError(name, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, syntaxError(name, err)
		}
		return nil, fmt.Errorf("%s:%d: only one YAML document is allowed", name, extra.Line)
	}

	f = &File{Path: name, sections: map[string]*yaml.Node{}}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = root.Content[0]
	}
	root = deref(root)
	if isNull(root) {
		return f, nil
	}
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: top level must be a mapping of sections, got %s", name, root.Line, kindName(root))
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := deref(root.Content[i]), root.Content[i+1]
		if k == nil || k.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("%s:%d: section name must be a scalar", name, root.Content[i].Line)
		}
		sec := strings.ToLower(k.Value)
		if line, dup := seen[sec]; dup {
			return nil, fmt.Errorf("%s:%d: section %q repeats the one on line %d", name, k.Line, sec, line)
		}
		seen[sec] = k.Line
		f.names = append(f.names, sec)
		f.sections[sec] = v
	}
	return f, nil
}

// Names returns the section names in file order, lowercase. The host
// compares them with the sections it knows to report unknown ones.
func (f *File) Names() []string { return append([]string(nil), f.names...) }

// Section returns the raw node of a section, or nil when the file has none.
// The name is matched case-insensitively. The node is shared with f: Apply
// and Enabled only read it.
func (f *File) Section(name string) *yaml.Node {
	if f == nil {
		return nil
	}
	return f.sections[strings.ToLower(name)]
}

// syntaxError rewrites yaml.v3's "yaml: line N: reason" as "name:N: reason",
// the form editors and CI logs link to.
func syntaxError(name string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, reason, ok := strings.Cut(rest, ": "); ok {
			if n, err := strconv.Atoi(num); err == nil {
				return fmt.Errorf("%s:%d: %s", name, n, reason)
			}
		}
	}
	return fmt.Errorf("%s: %s", name, msg)
}

// deref follows alias nodes to the anchored node they stand for.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < maxAliasHops; i++ {
		n = n.Alias
	}
	return n
}

// isNull reports an absent or null node ("key:" with no value, "~",
// "null"). Such a value leaves the field as it was, so an empty section such
// as "rtmp:" means "use the defaults", as in m7s configs.
func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a sequence"
	case yaml.ScalarNode:
		return "a scalar"
	case yaml.AliasNode:
		return "an alias"
	}
	return "a document"
}
