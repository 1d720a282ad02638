// Package managed keeps a clearly marked block of generated lines inside a
// file people also edit by hand (/etc/hosts, /etc/exports), leaving every
// other line exactly as it was.
package managed

import (
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
