package main

import (
	"strconv"
	"strings"
	"testing"
)

func TestParseIDs(t *testing.T) {
	ids, err := parseIDs(" 1, 2 ,3 ")
	if err != nil || len(ids) != 3 || ids[0] != 1 || ids[2] != 3 {
		t.Fatalf("parseIDs = %v, %v", ids, err)
	}
	for in, want := range map[string]string{"": "empty", "1,,2": "item 2", "1,x": `item 2 "x"`, "9999999999999999999999": "item 1"} {
		if _, err := parseIDs(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseIDs(%q): error %v, want one containing %q", in, err, want)
		}
	}
}

func FuzzParseIDs(f *testing.F) {
	for _, s := range []string{"1,2,3", "", ",", "-1", " 7 ", "1,,2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ids, err := parseIDs(s)
		if err != nil {
			return
		}
		// Whatever is accepted prints back to a list that parses to the same ids.
		parts := make([]string, len(ids))
		for i, id := range ids {
			parts[i] = strconv.Itoa(id)
		}
		again, err := parseIDs(strings.Join(parts, ","))
		if err != nil || len(again) != len(ids) {
			t.Fatalf("%q → %v does not round-trip: %v, %v", s, ids, again, err)
		}
	})
}
