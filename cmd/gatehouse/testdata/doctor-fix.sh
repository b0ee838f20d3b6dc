# gatehouse doctor --fix: the commands that fix the findings below.
# --fix alone changes nothing; --fix --apply runs only the go env -w ones.

# CRITICAL GH020 goroot-writable: $GOROOTPARENT/goroot/bin is writable by others
chmod go-w $GOROOTPARENT/goroot/bin

# HIGH GH001 gosumdb-off: GOSUMDB=off: module hashes are not checked against any checksum database
go env -w GOSUMDB=sum.golang.org

# HIGH GH005 goinsecure-set: GOINSECURE=git.corp.example: matching modules may be fetched without TLS
go env -w GOINSECURE=

# HIGH GH007 goproxy-credentials: GOPROXY=https://xxxxx@proxy.corp.example,direct contains credentials
# set GOPROXY=https://proxy.corp.example,direct where it is set (shell profile, CI configuration); go env -w cannot override the environment
export GOPROXY=https://proxy.corp.example,direct

# MEDIUM GH022 netrc-readable: $TMP/home/.netrc (used by GOAUTH=netrc) is readable by its group (mode 0640)
chmod 600 $TMP/home/.netrc

# MEDIUM GH034 replace-local: replace example.com/lib => ../lib points at a local directory
# drop the replacement before committing; use a go.work file for local development:
# go mod edit -dropreplace=example.com/lib
