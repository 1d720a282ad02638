// Package hostlist reads and writes host lists in the syntax Slurm and pdsh
// use: node[001-064,070], 10.0.1.[21-84], rack[1-2]-n[01-16], and several
// such patterns joined by commas (a[1-2],b7). Expansion is bounded: a
// typing mistake such as n[1-99999999] is an error, never a huge list.
package hostlist

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// MaxHosts is the most names one host list may expand to.
const MaxHosts = 100_000

// maxLen bounds the text of one host list.
const maxLen = 1 << 16

// maxDigits bounds one number of a range (and keeps it in an int).
const maxDigits = 9

// span is lo..hi of one bracket item, printed at width digits (0: as is).
type span struct{ lo, hi, width int }

// part is literal text, or (when spans is set) one bracket.
type part struct {
	text  string
	spans []span
	open  bool // the last span has no upper bound: n[100-]
}

// pattern is one comma-free host pattern.
type pattern []part

// Expand returns every name of a host list, in order, without duplicates.
// A list naming more than MaxHosts hosts, a bad bracket or a reversed range
// is an error that quotes the list.
func Expand(list string) ([]string, error) {
	return expand(list, 0)
}

// Take returns the first n names of a host list whose last range may be
// open (n[100-] means 100, 101, ...): what a pool of addresses to hand out
// is written as.
func Take(list string, n int) ([]string, error) {
	if n < 0 || n > MaxHosts {
		return nil, fmt.Errorf("host list %q: %d names asked: expected 0 to %d", short(list), n, MaxHosts)
	}
	return expand(list, n)
}

func expand(list string, take int) ([]string, error) {
	pats, err := parse(list, take > 0)
	if err != nil {
		return nil, err
	}
	total := 0
	for _, p := range pats {
		c, ok := p.count(take)
		total += c
		if !ok || total > MaxHosts {
			return nil, fmt.Errorf("host list %q names more than %d hosts: expected a smaller range", short(list), MaxHosts)
		}
	}
	out := make([]string, 0, total)
	seen := make(map[string]bool, total)
	for _, p := range pats {
		p.each(take, func(s string) bool {
			if !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
			return take == 0 || len(out) < take
		})
		if take > 0 && len(out) >= take {
			break
		}
	}
	if take > 0 && len(out) < take {
		return nil, fmt.Errorf("host list %q has only %d names: expected at least %d", short(list), len(out), take)
	}
	return out, nil
}

// IsRange reports whether s is a host list pattern rather than one name
// (it has a bracket or a top-level comma).
func IsRange(s string) bool { return strings.ContainsAny(s, "[,") }

// parse splits a list at top-level commas and parses each pattern.
func parse(list string, allowOpen bool) ([]pattern, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("invalid host list %q: %s", short(list), fmt.Sprintf(format, a...))
	}
	if list == "" {
		return nil, bad("empty (expected names such as node[001-064] or 10.0.1.[21-84])")
	}
	if len(list) > maxLen {
		return nil, bad("longer than %d characters", maxLen)
	}
	var pats []pattern
	var cur pattern
	var text strings.Builder
	flush := func() {
		if text.Len() > 0 {
			cur = append(cur, part{text: text.String()})
			text.Reset()
		}
	}
	for i := 0; i < len(list); i++ {
		switch c := list[i]; c {
		case ',':
			flush()
			if len(cur) == 0 {
				return nil, bad("empty name at offset %d", i)
			}
			pats, cur = append(pats, cur), nil
		case '[':
			end := strings.IndexByte(list[i:], ']')
			if end < 0 {
				return nil, bad("'[' at offset %d is never closed", i)
			}
			flush()
			p, err := parseBracket(list[i+1 : i+end])
			if err != nil {
				return nil, bad("%v", err)
			}
			if p.open && !allowOpen {
				return nil, bad("open range [%s] (expected both ends, such as [100-199])", list[i+1:i+end])
			}
			cur = append(cur, p)
			i += end
		case ']':
			return nil, bad("']' at offset %d without '['", i)
		default:
			if c <= ' ' || c >= 0x7f {
				return nil, bad("character %q at offset %d (expected printable ASCII without blanks)", c, i)
			}
			text.WriteByte(c)
		}
	}
	flush()
	if len(cur) == 0 {
		return nil, bad("ends with a comma")
	}
	pats = append(pats, cur)
	if allowOpen {
		for i, p := range pats {
			for j, q := range p {
				if q.open && (i != len(pats)-1 || j != lastBracket(p)) {
					return nil, bad("only the last range may be open")
				}
			}
		}
	}
	return pats, nil
}

func lastBracket(p pattern) int {
	for j := len(p) - 1; j >= 0; j-- {
		if p[j].spans != nil {
			return j
		}
	}
	return -1
}

// parseBracket reads the inside of [...]: items a or a-b, comma-separated.
func parseBracket(in string) (part, error) {
	if in == "" {
		return part{}, fmt.Errorf("empty brackets []")
	}
	items := strings.Split(in, ",")
	p := part{spans: make([]span, 0, len(items))}
	for k, item := range items {
		loS, hiS, isRange := strings.Cut(item, "-")
		lo, err := number(loS, item)
		if err != nil {
			return part{}, err
		}
		sp := span{lo: lo, hi: lo}
		if len(loS) > 1 && loS[0] == '0' {
			sp.width = len(loS)
		}
		if isRange {
			if hiS == "" {
				if k != len(items)-1 {
					return part{}, fmt.Errorf("open range %q not last in its brackets", item)
				}
				p.open = true
				sp.hi = -1
				p.spans = append(p.spans, sp)
				continue
			}
			hi, err := number(hiS, item)
			if err != nil {
				return part{}, err
			}
			if hi < lo {
				return part{}, fmt.Errorf("range %q goes down (expected low-high)", item)
			}
			sp.hi = hi
		}
		p.spans = append(p.spans, sp)
	}
	return p, nil
}

func number(s, item string) (int, error) {
	if s == "" || len(s) > maxDigits || strings.Trim(s, "0123456789") != "" {
		return 0, fmt.Errorf("%q in brackets: expected a number of 1 to %d digits or a range such as 001-064", item, maxDigits)
	}
	return strconv.Atoi(s)
}

// count is how many names p makes (take bounds an open range); false
// past MaxHosts.
func (p pattern) count(take int) (int, bool) {
	n := 1
	for _, q := range p {
		if q.spans == nil {
			continue
		}
		c := 0
		for _, sp := range q.spans {
			if sp.hi < 0 {
				c += take
				continue
			}
			c += sp.hi - sp.lo + 1
		}
		if c > MaxHosts || n*c > MaxHosts {
			return 0, false
		}
		n *= c
	}
	return n, true
}

// each calls fn with every name of p, leftmost bracket slowest, until fn
// returns false.
func (p pattern) each(take int, fn func(string) bool) {
	var rec func(i int, prefix string) bool
	rec = func(i int, prefix string) bool {
		if i == len(p) {
			return fn(prefix)
		}
		q := p[i]
		if q.spans == nil {
			return rec(i+1, prefix+q.text)
		}
		for _, sp := range q.spans {
			hi := sp.hi
			if hi < 0 {
				hi = sp.lo + take - 1
			}
			for v := sp.lo; v <= hi; v++ {
				if !rec(i+1, prefix+format(v, sp.width)) {
					return false
				}
			}
		}
		return true
	}
	rec(0, "")
}

func format(v, width int) string {
	s := strconv.Itoa(v)
	if len(s) < width {
		s = strings.Repeat("0", width-len(s)) + s
	}
	return s
}

// Fold writes names as a host list: names that differ only in their last
// number become one range (node001..node064 -> node[001-064]). Groups come
// in the order their first name comes; numbers within one are sorted.
// Expand(Fold(names)) gives the same set of names.
func Fold(names []string) string {
	type key struct {
		prefix, suffix string
		width          int // 0: numbers without leading zeros
	}
	var order []key
	nums := map[key][]int{}
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			continue
		}
		seen[n] = true
		i, j := lastNumber(n)
		if j-i > maxDigits {
			i = j - maxDigits // the digits before stay in the prefix
		}
		if i < 0 {
			order = append(order, key{prefix: n, width: -1})
			continue
		}
		d := n[i:j]
		k := key{prefix: n[:i], suffix: n[j:]}
		if len(d) > 1 && d[0] == '0' {
			k.width = len(d)
		}
		v, _ := strconv.Atoi(d)
		if _, ok := nums[k]; !ok {
			order = append(order, k)
		}
		nums[k] = append(nums[k], v)
	}
	// Unpadded numbers at least as wide as a padded group of the same
	// prefix and suffix belong to it (node099, node100 -> node[099-100]).
	for _, k := range order {
		if k.width <= 0 {
			continue
		}
		u := key{prefix: k.prefix, suffix: k.suffix}
		var keep []int
		for _, v := range nums[u] {
			if len(strconv.Itoa(v)) >= k.width {
				nums[k] = append(nums[k], v)
			} else {
				keep = append(keep, v)
			}
		}
		if _, ok := nums[u]; ok {
			nums[u] = keep
		}
	}
	var out []string
	for _, k := range order {
		if k.width < 0 {
			out = append(out, k.prefix)
			continue
		}
		vs := nums[k]
		if len(vs) == 0 {
			continue
		}
		slices.Sort(vs)
		vs = slices.Compact(vs)
		if len(vs) == 1 {
			out = append(out, k.prefix+format(vs[0], k.width)+k.suffix)
			continue
		}
		var b strings.Builder
		b.WriteString(k.prefix)
		b.WriteByte('[')
		for i := 0; i < len(vs); {
			j := i
			for j+1 < len(vs) && vs[j+1] == vs[j]+1 {
				j++
			}
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(format(vs[i], k.width))
			if j > i {
				b.WriteByte('-')
				b.WriteString(format(vs[j], k.width))
			}
			i = j + 1
		}
		b.WriteByte(']')
		b.WriteString(k.suffix)
		out = append(out, b.String())
	}
	return strings.Join(out, ",")
}

// lastNumber finds the last run of digits in s: s[i:j], or -1, -1.
func lastNumber(s string) (int, int) {
	j := len(s)
	for j > 0 && !isDigit(s[j-1]) {
		j--
	}
	if j == 0 {
		return -1, -1
	}
	i := j
	for i > 0 && isDigit(s[i-1]) {
		i--
	}
	return i, j
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// short keeps a quoted list readable in an error.
func short(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}
