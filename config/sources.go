package config

import (
	"fmt"
	"strings"

	"github.com/spf13/viper"
)

// Setting is one effective value and where it came from.
type Setting struct {
	Key    string `json:"key" yaml:"key"`
	Value  string `json:"value" yaml:"value"`
	Source string `json:"source" yaml:"source"` // flag, env DISKLESS_X, file PATH, default
}

func sources(v *viper.Viper, o Options, file string) map[string]string {
	flagFor := map[string]string{}
	if o.Flags != nil {
		for flag, key := range o.FlagKeys {
			if f := o.Flags.Lookup(flag); f != nil && f.Changed {
				flagFor[key] = "--" + flag
			}
		}
	}
	out := map[string]string{}
	for _, k := range Keys {
		switch {
		case flagFor[k.Name] != "":
			out[k.Name] = "flag " + flagFor[k.Name]
		case envSet(o, k.Name):
			out[k.Name] = "env " + EnvName(k.Name)
		case v.InConfig(k.Name):
			out[k.Name] = "file " + file
		default:
			out[k.Name] = "default"
		}
	}
	return out
}

func envSet(o Options, key string) bool {
	_, ok := lookupEnv(o, key)
	return ok
}

// Settings lists every key with its effective value and source, in Keys order.
func (c *Config) Settings() []Setting {
	out := make([]Setting, 0, len(Keys))
	for _, k := range Keys {
		v, ok := c.derived[k.Name]
		if !ok {
			v = format(c.v.Get(k.Name))
		}
		out = append(out, Setting{Key: k.Name, Value: v, Source: c.sources[k.Name]})
	}
	return out
}

func format(v any) string {
	switch x := v.(type) {
	case []string:
		return strings.Join(x, ",")
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = fmt.Sprint(e)
		}
		return strings.Join(parts, ",")
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

// DefaultFileContent renders the commented config file `diskless init`
// writes: the given values as settings, every other key commented out at its
// default, each under a line saying what it is for.
func DefaultFileContent(values map[string]any) string {
	var b strings.Builder
	b.WriteString("# diskless configuration. Precedence: flag > DISKLESS_* environment > this file > default.\n")
	b.WriteString("# Commented keys show their defaults. `diskless config show` prints the effective values.\n")
	b.WriteString("# An empty DISKLESS_* variable counts as unset; lists in variables are comma-separated.\n")
	section := ""
	for _, k := range Keys {
		sec, name, nested := strings.Cut(k.Name, ".")
		if !nested {
			sec, name = "", k.Name
		}
		indent := ""
		if sec != "" {
			indent = "  "
		}
		if sec != section {
			section = sec
			prefix := "# "
			for key := range values {
				if strings.HasPrefix(key, sec+".") {
					prefix = ""
				}
			}
			if sec != "" { // a top-level key after a section needs no header
				fmt.Fprintf(&b, "\n%s%s:\n", prefix, sec)
			}
		}
		val, set := values[k.Name]
		if !set {
			val = k.Default
		}
		comment := "# "
		if set {
			comment = ""
		}
		fmt.Fprintf(&b, "\n%s# %s\n%s%s%s: %s\n", indent, k.Help, indent, comment, name, yamlScalar(val))
	}
	return b.String()
}
func yamlScalar(v any) string {
	switch x := v.(type) {
	case []string:
		if len(x) == 0 {
			return "[]"
		}
		return "[" + strings.Join(x, ", ") + "]"
	case bool:
		return fmt.Sprint(x)
	case string:
		if x == "" {
			return `""`
		}
		return fmt.Sprintf("%q", x)
	}
	return fmt.Sprint(v)
}
