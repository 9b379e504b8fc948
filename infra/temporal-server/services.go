package main

import (
	"fmt"
	"slices"
	"strings"
)

// parseServices reads --services: which of Temporal's services this process runs. All four by default (one control
// host); on several hosts, e.g. "frontend" on two and "history,matching,worker" on another, all on one PostgreSQL.
func parseServices(value string, known []string) ([]string, error) {
	var services []string
	for _, s := range strings.Split(value, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !slices.Contains(known, s) {
			return nil, fmt.Errorf("--services: %q is not one of %s", s, strings.Join(known, ", "))
		}
		if !slices.Contains(services, s) {
			services = append(services, s)
		}
	}
	if len(services) == 0 {
		return nil, fmt.Errorf("--services: name at least one of %s", strings.Join(known, ", "))
	}
	return services, nil
}
