package textutil

import "testing"

func TestBanner(t *testing.T) {
	want := "******\n* hi *\n******"
	if got := Banner("hi"); got != want {
		t.Fatalf("Banner(%q) = %q, want %q", "hi", got, want)
	}
}
