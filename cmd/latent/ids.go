package main

import (
	"fmt"
	"strconv"
	"strings"
)

// parseIDs parses a comma-separated list of token ids such as "1,2,3".
func parseIDs(s string) ([]int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, fmt.Errorf("--ids: empty list")
	}
	parts := strings.Split(s, ",")
	ids := make([]int, len(parts))
	for i, p := range parts {
		v, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil {
			return nil, fmt.Errorf("--ids: item %d %q is not an integer", i+1, p)
		}
		ids[i] = v
	}
	return ids, nil
}
