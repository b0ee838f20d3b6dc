package policy

import (
	"strings"
	"testing"
)

// A policy file is operator input, but reloads read whatever is on disk:
// any bytes must give a policy or one error line naming the file, never a
// panic.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"",
		"default = \"deny\"\n",
		"[[rule]]\nname = \"a\"\naction = \"deny\"\nmodules = [\"example.com/**\"]\nversions = \">=1.2.0 <2.0.0\"\nreason = \"r\"\n",
		"[[rule]]\nname = \"b\"\naction = \"allow\"\nmin_age = \"72h\"\npseudo = false\nincompatible = true\n",
		"[[rule]]\nname = \"c\"\naction = \"deny\"\nmodule_versions = [\"example.com/m@v1.0.0\"]\n",
		"[[rule]]\nname = \"d\"\naction = \"deny\"\nversions = \"v1.* || =v2.0.0\"\ngroups = [\"web\"]\n",
		"dry_run = true\n[[rule]]\naction = \"maybe\"\n",
		"[[rule]]\nname = \"e\"\nversions = \">=\"\n",
		"[[[ not toml\x00",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("p.toml", data)
		if err != nil {
			if msg := err.Error(); strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "p.toml") {
				t.Fatalf("error is not one line naming the file: %q", msg)
			}
			return
		}
		if p == nil {
			t.Fatal("no policy and no error")
		}
	})
}

// Version constraints come from the same files; parsing and matching any
// string must not panic, and matching is a pure function of its input.
func FuzzConstraint(f *testing.F) {
	for _, seed := range []string{">=1.2.0 <2.0.0", "v1.*", "v1.2.*", "*", "=v1.0.0 || >v3", ">= 1.2.0, != 1.3.0", "<v0.0.0-2020", "||", "v"} {
		f.Add(seed, "v1.2.3")
	}
	f.Fuzz(func(t *testing.T, expr, version string) {
		c, err := ParseConstraint(expr)
		if err != nil {
			return
		}
		if c.Match(version) != c.Match(version) {
			t.Fatal("Match is not deterministic")
		}
		c.Match("v0.0.0-20200101000000-abcdefabcdef")
		c.Match("v2.0.0+incompatible")
	})
}
