package host

import "testing"

type nopPlugin struct{}

func (nopPlugin) Start(Services) error { return nil }
func (nopPlugin) Dispose()             {}

func TestInstallPluginRejectsNilAndDuplicates(t *testing.T) {
	meta := PluginMeta{
		Name:      "RegistryTest",
		NewConfig: func() any { return new(struct{}) },
		New:       func(any) (Plugin, error) { return nopPlugin{}, nil },
	}
	if err := InstallPlugin(meta); err != nil {
		t.Fatal(err)
	}
	defer uninstallForTest(meta.Name)
	if meta.Section() != "registrytest" {
		t.Fatalf("section %q", meta.Section())
	}
	dup := meta
	dup.Name = "registryTEST" // same section after lowercasing
	if err := InstallPlugin(dup); err == nil {
		t.Fatal("duplicate registration accepted")
	}
	for _, bad := range []PluginMeta{{}, {Name: "x"}, {Name: "x", NewConfig: meta.NewConfig}} {
		if err := InstallPlugin(bad); err == nil {
			t.Fatalf("incomplete registration %+v accepted", bad)
		}
	}
	found := false
	for _, m := range Plugins() {
		found = found || m.Name == meta.Name
	}
	if !found {
		t.Fatal("installed plugin not listed")
	}
}
