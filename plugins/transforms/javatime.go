package transforms

import (
	"fmt"
	"strings"
)

// javaDateLayout translates a java.text.SimpleDateFormat pattern (as used
// in Kafka's TimestampConverter "format" and TimestampRouter
// "timestamp.format") into a Go time layout. It supports the letters
// people use in practice — y M d H h m s S a E z Z X D and quoted
// literals — and rejects the others, rather than guessing.
func javaDateLayout(p string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(p); {
		c := p[i]
		if c == '\'' {
			if i+1 < len(p) && p[i+1] == '\'' {
				b.WriteByte('\'')
				i += 2
				continue
			}
			// Quoted literal; '' inside it is a quote.
			j := i + 1
			closed := false
			for j < len(p) {
				if p[j] == '\'' {
					if j+1 < len(p) && p[j+1] == '\'' {
						b.WriteByte('\'')
						j += 2
						continue
					}
					closed = true
					break
				}
				b.WriteByte(p[j])
				j++
			}
			if !closed {
				return "", fmt.Errorf("unterminated quote in date format %q", p)
			}
			i = j + 1
			continue
		}
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			b.WriteByte(c)
			i++
			continue
		}
		n := 1
		for i+n < len(p) && p[i+n] == c {
			n++
		}
		i += n
		var tok string
		switch c {
		case 'y', 'u':
			if n == 2 {
				tok = "06"
			} else {
				tok = "2006"
			}
		case 'M', 'L':
			switch {
			case n == 1:
				tok = "1"
			case n == 2:
				tok = "01"
			case n == 3:
				tok = "Jan"
			default:
				tok = "January"
			}
		case 'd':
			tok = pick(n, "2", "02")
		case 'H':
			tok = "15"
		case 'h':
			tok = pick(n, "3", "03")
		case 'm':
			tok = pick(n, "4", "04")
		case 's':
			tok = pick(n, "5", "05")
		case 'S':
			s := b.String()
			if s == "" || (s[len(s)-1] != '.' && s[len(s)-1] != ',') {
				return "", fmt.Errorf("date format %q: milliseconds (S) must follow '.' or ','", p)
			}
			tok = strings.Repeat("0", n)
		case 'a':
			tok = "PM"
		case 'E':
			if n >= 4 {
				tok = "Monday"
			} else {
				tok = "Mon"
			}
		case 'D':
			tok = "002"
		case 'z':
			tok = "MST"
		case 'Z':
			tok = "-0700"
		case 'X':
			switch n {
			case 1:
				tok = "Z07"
			case 2:
				tok = "Z0700"
			default:
				tok = "Z07:00"
			}
		default:
			return "", fmt.Errorf("date format %q: pattern letter %q is not supported", p, c)
		}
		b.WriteString(tok)
	}
	return b.String(), nil
}

func pick(n int, one, two string) string {
	if n == 1 {
		return one
	}
	return two
}
