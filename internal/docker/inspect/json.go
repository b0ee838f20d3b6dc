package inspect

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode"
	"unicode/utf8"
)

// An object is a decoded JSON object whose keys are folded the way
// encoding/json matches struct fields: case-insensitively, with Unicode
// simple folding (so "Bindſ" is "Binds"). dockerd decodes bodies with
// encoding/json, so looking a field up here finds the value dockerd uses.
type object map[string]any

// get returns the value of field name (matched as encoding/json would), or
// nil when it is absent or null.
func (o object) get(name string) any {
	if o == nil {
		return nil
	}
	return o[foldName(name)]
}

// obj returns field name as an object; ok is false when it is present but
// not an object.
func (o object) obj(name string) (object, bool) {
	switch v := o.get(name).(type) {
	case nil:
		return nil, true
	case object:
		return v, true
	}
	return nil, false
}

const maxDepth = 64

// parseBody decodes a JSON body strictly: one value and nothing after it, no
// two keys of an object that encoding/json would take for the same field
// (where dockerd would silently use the last one), at most maxDepth deep.
// An empty body is an empty object.
func parseBody(body []byte) (object, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return object{}, nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	v, err := parseValue(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON value")
	}
	switch v := v.(type) {
	case nil:
		return object{}, nil
	case object:
		return v, nil
	}
	return nil, errors.New("body is not a JSON object")
}

func parseValue(dec *json.Decoder, depth int) (any, error) {
	if depth > maxDepth {
		return nil, errors.New("JSON nested too deeply")
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("invalid JSON: %v", err)
	}
	switch tok {
	case json.Delim('{'):
		o := object{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, fmt.Errorf("invalid JSON: %v", err)
			}
			key := kt.(string)
			k := foldName(key)
			if _, dup := o[k]; dup {
				return nil, fmt.Errorf("key %q appears twice (keys match case-insensitively)", key)
			}
			v, err := parseValue(dec, depth+1)
			if err != nil {
				return nil, err
			}
			o[k] = v
		}
		_, err := dec.Token() // '}'
		return o, err
	case json.Delim('['):
		var a []any
		for dec.More() {
			v, err := parseValue(dec, depth+1)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
		_, err := dec.Token() // ']'
		return a, err
	}
	return tok, nil // string, json.Number, bool or nil
}

// foldName is encoding/json's: ASCII upper case, and for other runes the
// smallest rune of their case-folding set.
func foldName(s string) string {
	out := make([]byte, 0, len(s))
	for _, r := range s {
		if r < utf8.RuneSelf {
			if 'a' <= r && r <= 'z' {
				r -= 'a' - 'A'
			}
			out = append(out, byte(r))
			continue
		}
		out = utf8.AppendRune(out, foldRune(r))
	}
	return string(out)
}

func foldRune(r rune) rune {
	for {
		r2 := unicode.SimpleFold(r)
		if r2 <= r {
			return r2
		}
		r = r2
	}
}
