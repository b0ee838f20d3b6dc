module github.com/gatehouse-dev/gatehouse

go 1.26.0

require (
	github.com/BurntSushi/toml v1.6.0
	golang.org/x/mod v0.42.0
	golang.org/x/sync v0.24.0
	golang.org/x/sys v0.49.0
)

require github.com/pandatix/go-cvss v0.6.4
