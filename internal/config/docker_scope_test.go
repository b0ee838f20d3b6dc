package config

import (
	"errors"
	"testing"
)

// The keys of issue 14 are validated with the key named in the error.
func TestDockerScopeKeys(t *testing.T) {
	for _, tc := range []struct {
		key    string
		modify func(*Docker)
	}{
		{"bind-writable", func(c *Docker) { c.BindWritable = List{"relative/dir"} }},
		{"profiles.p.registries", func(c *Docker) { c.Profiles["p"] = DockerProfile{Registries: []string{"https://ghcr.io"}} }},
		{"profiles.p.registries", func(c *Docker) { c.Profiles["p"] = DockerProfile{Registries: []string{"ghcr.io/org"}} }},
		{"profiles.p.registries", func(c *Docker) { c.Profiles["p"] = DockerProfile{Registries: []string{""}} }},
		{"profiles.p.log_drivers", func(c *Docker) { c.Profiles["p"] = DockerProfile{LogDrivers: []string{"sys log"}} }},
		{"", func(c *Docker) {
			c.BindWritable = List{"/srv/cache"}
			c.Profiles["p"] = DockerProfile{Registries: []string{"ghcr.io", "registry.example.com:5000"}, LogDrivers: []string{"journald"}}
		}},
	} {
		c := DefaultDocker()
		c.Listen = List{"unix:///run/g.sock"}
		c.Profiles = map[string]DockerProfile{}
		tc.modify(c)
		err := c.Validate()
		var ce *Error
		if tc.key == "" {
			if err != nil {
				t.Errorf("valid settings refused: %v", err)
			}
			continue
		}
		if !errors.As(err, &ce) || ce.Key != tc.key {
			t.Errorf("want an error for %s, got %v", tc.key, err)
		}
	}
}
