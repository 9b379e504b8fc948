package main

import (
	"slices"
	"testing"
)

func TestParseServices(t *testing.T) {
	known := []string{"frontend", "history", "matching", "worker"}
	got, err := parseServices("history, matching,history", known)
	if err != nil || !slices.Equal(got, []string{"history", "matching"}) {
		t.Fatalf("history, matching,history: got %v, %v", got, err)
	}
	for _, bad := range []string{"", " , ", "frontend,web"} {
		if _, err := parseServices(bad, known); err == nil {
			t.Errorf("%q: accepted, want an error", bad)
		}
	}
}
