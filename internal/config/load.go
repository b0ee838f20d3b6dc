// Package config turns a TOML file, GATEHOUSE_* environment variables and
// command-line flags into one typed configuration, in that order of
// precedence from weakest to strongest, with errors that name the key.
//
// A scalar setting is declared once, as a Key: its flag is --name, its
// environment variable GATEHOUSE_NAME (dashes become underscores) and its
// TOML key name with dashes as underscores. Structured settings (tables and
// arrays of tables) live only in the file and are decoded by their toml tags.
package config

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// A Key is one scalar setting.
type Key struct {
	Name   string     // flag name, e.g. "tls-cert"
	Usage  string     // help text
	Value  flag.Value // points into the config struct
	Secret bool       // redacted when the config is printed
	Env    string     // environment variable; "" means GATEHOUSE_<NAME>
}

// TOMLName is the key's name in the config file.
func (k Key) TOMLName() string { return strings.ReplaceAll(k.Name, "-", "_") }

// EnvName is the key's environment variable.
func (k Key) EnvName() string {
	if k.Env != "" {
		return k.Env
	}
	return "GATEHOUSE_" + strings.ToUpper(strings.ReplaceAll(k.Name, "-", "_"))
}

// WithEnvPrefix gives each key the environment variable prefix+NAME, so
// that commands other than serve do not read serve's variables: a sidecar
// must never pick up GATEHOUSE_UPSTREAM meant for serve and send its
// credentials there.
func WithEnvPrefix(prefix string, keys []Key) []Key {
	for i := range keys {
		keys[i].Env = prefix + strings.ToUpper(strings.ReplaceAll(keys[i].Name, "-", "_"))
	}
	return keys
}

// An Error is a configuration error: which key, from where, and what is wrong.
type Error struct {
	Key    string // flag-style name, or TOML path for file-only keys
	Source string // "flag", "environment", file name, or "" after merging
	Err    error
}

func (e *Error) Error() string {
	if e.Source == "" {
		return fmt.Sprintf("config: %s: %v", e.Key, e.Err)
	}
	return fmt.Sprintf("config: %s (from %s): %v", e.Key, e.Source, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Bind registers every key as a flag of fs, plus --config, so that --help
// lists them all. It returns a pointer to the --config value.
func Bind(fs *flag.FlagSet, keys []Key) *string {
	for _, k := range keys {
		fs.Var(&recorder{k: k}, k.Name, k.Usage+" (env "+k.EnvName()+")")
	}
	return fs.String("config", "", "TOML config `file` (env GATEHOUSE_CONFIG)")
}

// recorder stands in for a key's value during flag parsing: the flag's text
// is kept and applied only after the file and environment, so flags win.
type recorder struct {
	k   Key
	set []string
}

func (r *recorder) String() string {
	if r == nil || r.k.Value == nil {
		return ""
	}
	return r.k.Value.String()
}
func (r *recorder) Set(s string) error { r.set = append(r.set, s); return nil }
func (r *recorder) IsBoolFlag() bool {
	b, ok := r.k.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// Load fills target (a pointer to a struct with toml tags, already holding
// defaults) from the config file, then the environment, then the flags that
// were set on fs (which must have been bound with Bind and parsed).
func Load(fs *flag.FlagSet, keys []Key, configFile string, target any, getenv func(string) string) error {
	if configFile == "" {
		configFile = getenv("GATEHOUSE_CONFIG")
	}
	if configFile != "" {
		if err := decodeFile(configFile, target); err != nil {
			return err
		}
	}
	for _, k := range keys {
		if v, ok := lookupEnv(getenv, k.EnvName()); ok {
			if err := k.Value.Set(v); err != nil {
				return &Error{Key: k.Name, Source: "environment " + k.EnvName(), Err: err}
			}
		}
	}
	var err error
	fs.Visit(func(f *flag.Flag) {
		r, ok := f.Value.(*recorder)
		if !ok || err != nil {
			return
		}
		set := r.set
		if _, isList := r.k.Value.(*List); isList && len(set) > 1 {
			// A repeated list flag adds to the list: --listen a --listen b.
			set = []string{strings.Join(set, ",")}
		}
		for _, s := range set {
			if e := r.k.Value.Set(s); e != nil {
				err = &Error{Key: r.k.Name, Source: "flag --" + r.k.Name, Err: e}
				return
			}
		}
	})
	return err
}

func lookupEnv(getenv func(string) string, name string) (string, bool) {
	v := getenv(name)
	return v, v != ""
}

// quotedRE matches the text the TOML parser quotes from the file when it
// cannot read a value (not the messages of gatehouse's own value types,
// which decide for themselves what is safe to show).
var quotedRE = regexp.MustCompile(`(found |Invalid integer |Invalid float |Invalid float value: )"(?:[^"\\]|\\.)*"`)

func decodeFile(name string, target any) error {
	data, err := os.ReadFile(name)
	if err != nil {
		return fmt.Errorf("config: cannot read config file %s: %v", name, errors.Unwrap(err))
	}
	md, err := toml.Decode(string(data), target)
	if err != nil {
		var perr toml.ParseError
		if errors.As(err, &perr) {
			// The parser quotes what it could not read, often a secret
			// left unquoted; the line number is enough to find it.
			return fmt.Errorf("config: %s:%d: %s", name, perr.Position.Line, quotedRE.ReplaceAllString(perr.Message, `$1"…"`))
		}
		// Type mismatches name the key in their message.
		return fmt.Errorf("config: %s: %v", name, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		names := make([]string, len(und))
		for i, k := range und {
			names[i] = k.String()
		}
		sort.Strings(names)
		return &Error{Key: names[0], Source: name, Err: errors.New("unknown key")}
	}
	return nil
}

// Values for Key.Value. Each also implements encoding.TextUnmarshaler so the
// same field decodes from TOML with the same rules as from a flag.

// String is a string setting.
type String string

func (s *String) String() string               { return string(*s) }
func (s *String) Set(v string) error           { *s = String(v); return nil }
func (s *String) UnmarshalText(b []byte) error { return s.Set(string(b)) }

// Bool is a boolean setting.
type Bool bool

func (b *Bool) String() string { return strconv.FormatBool(bool(*b)) }
func (b *Bool) Set(v string) error {
	x, err := strconv.ParseBool(v)
	if err != nil {
		return fmt.Errorf("%q is not true or false", v)
	}
	*b = Bool(x)
	return nil
}
func (b *Bool) IsBoolFlag() bool { return true }

// Duration is a time.Duration setting written like "30s" or "2m".
type Duration time.Duration

func (d *Duration) String() string { return time.Duration(*d).String() }
func (d *Duration) Set(v string) error {
	x, err := time.ParseDuration(v)
	if err != nil {
		return fmt.Errorf("%q is not a duration like 30s or 5m", v)
	}
	if x < 0 {
		return fmt.Errorf("%q is negative", v)
	}
	*d = Duration(x)
	return nil
}
func (d *Duration) UnmarshalText(b []byte) error { return d.Set(string(b)) }

// MarshalText writes the duration as the file would have it ("30s").
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// Int is an integer setting.
type Int int64

func (n *Int) String() string { return strconv.FormatInt(int64(*n), 10) }
func (n *Int) Set(v string) error {
	x, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return fmt.Errorf("%q is not a whole number", v)
	}
	*n = Int(x)
	return nil
}

// List is a comma-separated list setting; in TOML it may also be an array.
type List []string

func (l *List) String() string { return strings.Join(*l, ",") }
func (l *List) Set(v string) error {
	*l = nil
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}
func (l *List) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case string:
		return l.Set(v)
	case []any:
		*l = nil
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return fmt.Errorf("list element %v is not a string", e)
			}
			*l = append(*l, s)
		}
		return nil
	}
	return fmt.Errorf("want a string or an array of strings, not %T", v)
}

// checkLogging checks the log-format and log-level settings every
// long-running command has.
func checkLogging(format, level String) error {
	switch format {
	case "text", "json":
	default:
		return &Error{Key: "log-format", Err: fmt.Errorf("%q is not text or json", format)}
	}
	switch strings.ToLower(string(level)) {
	case "debug", "info", "warn", "error":
	default:
		return &Error{Key: "log-level", Err: fmt.Errorf("%q is not debug, info, warn or error", level)}
	}
	return nil
}
