package runtime

import "strings"

// Closest returns the candidate nearest to s by edit distance (ignoring
// case, '.', '-' and '_', so tasksMax matches tasks.max), or "" when none
// is near enough to be a plausible typo. It is how weir's errors and
// warnings say "did you mean …".
func Closest(s string, candidates []string) string {
	ns := normKey(s)
	best, bestD := "", 0
	for _, c := range candidates {
		if c == s {
			continue
		}
		d := editDistance(ns, normKey(c))
		if best == "" || d < bestD || (d == bestD && c < best) {
			best, bestD = c, d
		}
	}
	// A typo changes a few characters; more than a third of the word is a
	// different word.
	limit := max(1, min(3, (len(ns)+2)/3))
	if best == "" || bestD > limit {
		return ""
	}
	return best
}

// didYouMean renders Closest as a message suffix.
func didYouMean(s string, candidates []string) string {
	if c := Closest(s, candidates); c != "" {
		return ` (did you mean "` + c + `"?)`
	}
	return ""
}

func normKey(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '.', '-', '_':
			return -1
		}
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}

// editDistance is the Levenshtein distance with adjacent transpositions
// counted as one edit (optimal string alignment).
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
