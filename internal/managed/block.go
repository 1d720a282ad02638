// Package managed keeps a clearly marked block of generated lines inside a
// file people also edit by hand (/etc/hosts, /etc/exports), leaving every
// other line exactly as it was.
package managed

import (
	"slices"
	"strings"
)

// Markers returns the begin and end lines of the block for a tool section.
func Markers(section string) (begin, end string) {
	return "# BEGIN diskless " + section + " (managed by diskless; edits here are overwritten)",
		"# END diskless " + section
}

// Replace returns content with the managed block replaced by lines. The block
// is appended when absent and removed when lines is empty.
func Replace(content, section string, lines []string) string {
	begin, end := Markers(section)
	var block string
	if len(lines) > 0 {
		block = begin + "\n" + strings.Join(lines, "\n") + "\n" + end + "\n"
	}
	start := indexLine(content, begin)
	if start < 0 {
		if block == "" {
			return content
		}
		if content != "" && !strings.HasSuffix(content, "\n") {
			content += "\n"
		}
		return content + block
	}
	stop := indexLine(content[start:], end)
	var after string
	if stop < 0 {
		after = "" // unterminated block: it ran to the end of the file
	} else {
		stop += start
		after = content[stop+len(end):]
		after = strings.TrimPrefix(after, "\n")
	}
	return content[:start] + block + after
}

// Lines returns the lines inside the managed block (nil when absent).
func Lines(content, section string) []string {
	begin, end := Markers(section)
	start := indexLine(content, begin)
	if start < 0 {
		return nil
	}
	body := content[start+len(begin):]
	if stop := indexLine(body, end); stop >= 0 {
		body = body[:stop]
	}
	body = strings.Trim(body, "\n")
	if body == "" {
		return nil
	}
	return strings.Split(body, "\n")
}

// indexLine finds line as a whole line of s.
func indexLine(s, line string) int {
	off := 0
	for {
		i := strings.Index(s[off:], line)
		if i < 0 {
			return -1
		}
		i += off
		startOK := i == 0 || s[i-1] == '\n'
		j := i + len(line)
		endOK := j == len(s) || s[j] == '\n'
		if startOK && endOK {
			return i
		}
		off = i + 1
	}
}

// Outside returns content without the managed block: the lines people wrote.
func Outside(content, section string) string {
	return Replace(content, section, nil)
}

// Insert is a line Edit adds to a block: before the line Before, or, when
// Before is "", before the line Tail of Edit (at the block's end when that
// is "" too).
type Insert struct{ Line, Before string }

// Edit returns content with the block of section changed in place: each
// line of drop removed, each of add inserted (in order, for inserts at
// one place), everything else byte for byte as it was. ok is false when
// the block, a line to drop or a line to insert before is not there
// exactly once: then the caller rebuilds the block whole (Replace). For a
// change of a few lines in a block of thousands, it copies the file once
// instead of building every line again.
func Edit(content, section string, drop []string, add []Insert, tail string) (string, bool) {
	begin, end := Markers(section)
	b := indexLine(content, begin)
	if b < 0 {
		return "", false
	}
	bodyStart := b + len(begin) + 1
	if bodyStart > len(content) {
		return "", false
	}
	e := indexLine(content[bodyStart:], end)
	if e < 0 {
		return "", false
	}
	body := content[bodyStart : bodyStart+e]
	// find is the offset in body of line, found exactly once.
	find := func(line string) int {
		i := indexLine(body, line)
		if i < 0 || indexLine(body[i+len(line):], line) >= 0 {
			return -1
		}
		return i
	}
	type cut struct{ at, skip int } // in body: remove skip bytes at at
	type put struct {
		at   int
		n    int // order among puts at one offset
		line string
	}
	var cuts []cut
	for _, d := range drop {
		i := find(d)
		if i < 0 {
			return "", false
		}
		cuts = append(cuts, cut{i, len(d) + 1})
	}
	var puts []put
	for n, a := range add {
		at := len(body)
		switch {
		case a.Before != "":
			at = find(a.Before)
		case tail != "":
			at = find(tail)
		}
		if at < 0 || strings.Contains(a.Line, "\n") {
			return "", false
		}
		puts = append(puts, put{at, n, a.Line})
	}
	slices.SortFunc(cuts, func(x, y cut) int { return x.at - y.at })
	slices.SortFunc(puts, func(x, y put) int {
		if x.at != y.at {
			return x.at - y.at
		}
		return x.n - y.n
	})
	for i := 1; i < len(cuts); i++ {
		if cuts[i].at == cuts[i-1].at {
			return "", false
		}
	}
	kept := len(body) + len(puts)
	for _, c := range cuts {
		kept -= c.skip
	}
	if kept <= 0 {
		return "", false // no line left: Replace removes the block
	}
	var sb strings.Builder
	sb.Grow(len(content) + 128*len(add))
	sb.WriteString(content[:bodyStart])
	pos := 0
	for len(cuts) > 0 || len(puts) > 0 {
		if len(puts) > 0 && (len(cuts) == 0 || puts[0].at <= cuts[0].at) {
			sb.WriteString(body[pos:puts[0].at])
			pos = puts[0].at
			sb.WriteString(puts[0].line)
			sb.WriteByte('\n')
			puts = puts[1:]
			continue
		}
		sb.WriteString(body[pos:cuts[0].at])
		pos = cuts[0].at + cuts[0].skip
		cuts = cuts[1:]
	}
	sb.WriteString(body[pos:])
	sb.WriteString(content[bodyStart+e:])
	return sb.String(), true
}
