package fabgossip

import (
	"debug/elf"
	"strings"
	"testing"
)

// The build tag really chooses the link mode: a static gopeer needs no libfabgossip.so,
// a dynamic one does.
func TestLinkModeMatchesTheBinary(t *testing.T) {
	f, err := elf.Open(gopeer(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	libs, err := f.ImportedLibraries()
	if err != nil {
		t.Fatal(err)
	}
	dynamic := false
	for _, l := range libs {
		if strings.HasPrefix(l, "libfabgossip") {
			dynamic = true
		}
	}
	if dynamic != (LinkMode == "dynamic") {
		t.Fatalf("LinkMode %s but the binary imports %v", LinkMode, libs)
	}
}
