package inspect

import (
	"context"
)

// A Mount is one mount of an existing container, as dockerd reports it.
type Mount struct {
	Type   string // bind, volume, tmpfs, ...
	Source string // for a bind: the host path as the container was created with it
	RW     bool
}

// A ContainerLookup asks dockerd for an existing container's mounts, or
// found false when there is no such container.
type ContainerLookup func(ctx context.Context, id string) (mounts []Mount, found bool, err error)

// WithContainerLookup makes the inspector check a container's binds again
// when it is started, restarted or unpaused, and refuse copying files into a
// container that has binds. Without a lookup, those calls pass.
func (in *Inspector) WithContainerLookup(f ContainerLookup) *Inspector {
	in.containers = f
	return in
}

// checkContainerBinds checks every bind of container id against the
// allowlist as it is now, just before dockerd resolves the sources again.
// This also covers containers that were not created through gatehouse, or
// under older rules.
func (in *Inspector) checkContainerBinds(ctx context.Context, id string) *Violation {
	mounts, v := in.lookupContainer(ctx, id)
	if v != nil {
		return v
	}
	for _, m := range mounts {
		if m.Type != "bind" {
			continue
		}
		if err := in.binds.Check(m.Source, !m.RW); err != nil {
			return deny("bind-allowlist", "container %s has a bind mount of host path %q, refused now: %v", id, m.Source, err)
		}
	}
	return nil
}

// checkArchiveTarget refuses PUT /containers/{id}/archive (docker cp into a
// container) when the container has a bind mount: dockerd would write
// through it to the host, where a symlink planted in a shared directory is
// the start of the race the bind rules close.
func (in *Inspector) checkArchiveTarget(ctx context.Context, id string) *Violation {
	mounts, v := in.lookupContainer(ctx, id)
	if v != nil {
		return v
	}
	for _, m := range mounts {
		if m.Type == "bind" {
			return deny("no-copy-into-binds", "copying files into container %s is not allowed: it has a bind mount of host path %q", id, m.Source)
		}
	}
	return nil
}

func (in *Inspector) lookupContainer(ctx context.Context, id string) ([]Mount, *Violation) {
	if in.containers == nil {
		return nil, nil
	}
	mounts, found, err := in.containers(ctx, id)
	if err != nil {
		return nil, deny("bind-allowlist", "cannot check the mounts of container %s: %v", id, err)
	}
	if !found {
		return nil, nil // dockerd answers 404
	}
	return mounts, nil
}
