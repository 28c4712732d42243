package config

import (
	"fmt"
	"slices"
)

// didYouMean returns `; did you mean "x"?` when one of choices is a likely
// typo of word, or "" when none is close.
func didYouMean(word string, choices []string) string {
	best, bestDistance := "", 0
	for _, c := range slices.Sorted(slices.Values(choices)) {
		d := editDistance(word, c)
		// Two edits catch a swapped or doubled letter; shorter words need a
		// tighter bound, or "tls" would suggest "ttl".
		limit := min(2, max(1, len(c)/3))
		if d <= limit && (best == "" || d < bestDistance) {
			best, bestDistance = c, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", best)
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	previous := make([]int, len(b)+1)
	current := make([]int, len(b)+1)
	for j := range previous {
		previous[j] = j
	}
	for i := 1; i <= len(a); i++ {
		current[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			current[j] = min(previous[j]+1, current[j-1]+1, previous[j-1]+cost)
		}
		previous, current = current, previous
	}
	return previous[len(b)]
}
