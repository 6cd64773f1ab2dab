package greet

import "testing"

func TestHello(t *testing.T) {
	if got, want := Hello("canonfs"), "Hello, canonfs!"; got != want {
		t.Fatalf("Hello(%q) = %q, want %q", "canonfs", got, want)
	}
}

func TestChecksum(t *testing.T) {
	// FNV-1a 32-bit reference values.
	cases := map[string]uint32{"": 0x811c9dc5, "a": 0xe40c292c, "foobar": 0xbf9cf968}
	for in, want := range cases {
		if got := Checksum(in); got != want {
			t.Errorf("Checksum(%q) = %#x, want %#x", in, got, want)
		}
	}
}
