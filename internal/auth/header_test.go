package auth

import (
	"encoding/base64"
	"strings"
	"testing"
)

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func TestParseAuthorization(t *testing.T) {
	tests := []struct {
		in   string
		want Credentials
		err  error
	}{
		{"Bearer gth_abc", Credentials{Scheme: "bearer", Secret: "gth_abc"}, nil},
		{"bearer   eyJ.eyJ.sig-_", Credentials{Scheme: "bearer", Secret: "eyJ.eyJ.sig-_"}, nil},
		{"BEARER abc==", Credentials{Scheme: "bearer", Secret: "abc=="}, nil},
		{basic("ci", "gth_x"), Credentials{Scheme: "basic", User: "ci", Secret: "gth_x"}, nil},
		{basic("", "p:w"), Credentials{Scheme: "basic", User: "", Secret: "p:w"}, nil},
		{"Bearer", Credentials{}, ErrMalformed},
		{"Bearer ", Credentials{}, ErrMalformed},
		{"Bearer a b", Credentials{}, ErrMalformed},
		{"Bearer =abc", Credentials{}, ErrMalformed},
		{"Bearer ab=c", Credentials{}, ErrMalformed},
		{"Bearer a\x00", Credentials{}, ErrMalformed},
		{"Basic !!!", Credentials{}, ErrMalformed},
		{"Basic " + base64.StdEncoding.EncodeToString([]byte("nocolon")), Credentials{}, ErrMalformed},
		{basic("u", ""), Credentials{}, ErrMalformed},
		{basic("u", "a\nb"), Credentials{}, ErrMalformed},
		{"Digest x", Credentials{}, ErrUnsupported},
		{"", Credentials{}, ErrUnsupported},
		{"Bearer " + strings.Repeat("a", MaxAuthorizationLen), Credentials{}, ErrMalformed},
	}
	for _, tt := range tests {
		got, err := ParseAuthorization(tt.in)
		if err != tt.err || got != tt.want {
			t.Errorf("ParseAuthorization(%q) = %+v, %v; want %+v, %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

// The parser never panics, never returns a secret with an error, and what
// it accepts is well-formed: no control characters, no spaces in a bearer.
func FuzzParseAuthorization(f *testing.F) {
	for _, s := range []string{"Bearer gth_abc", basic("ci", "gth_x"), "Basic =", "bearer a.b.c", "Basic Og==", "x", "Bearer  \t"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		c, err := ParseAuthorization(h)
		if err != nil {
			if c != (Credentials{}) {
				t.Fatalf("error %v with credentials %+v", err, c)
			}
			if len(h) >= 12 && strings.Contains(err.Error(), h) {
				t.Fatalf("error %q echoes the header", err)
			}
			return
		}
		if c.Secret == "" || !printable(c.Secret) || !printable(c.User) {
			t.Fatalf("accepted %q as %+v", h, c)
		}
		switch c.Scheme {
		case "bearer":
			if strings.ContainsAny(c.Secret, " \t:") || c.User != "" {
				t.Fatalf("bearer %q parsed as %+v", h, c)
			}
		case "basic":
			if !strings.EqualFold(h[:5], "basic") {
				t.Fatalf("%q parsed as basic", h)
			}
		default:
			t.Fatalf("scheme %q", c.Scheme)
		}
	})
}
