package config

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// Container runtimes an endpoint's runtime may name.
const (
	RuntimeDocker = "docker"
	RuntimePodman = "podman"
)

// Pull policies, as `docker run --pull` and `podman run --pull` spell them.
const (
	PullAlways  = "always"
	PullMissing = "missing"
	PullNever   = "never"
	DefaultPull = PullMissing
)

// NetworkVolumePath is where networkVolume is mounted in a worker's
// container, as Runpod mounts an endpoint's network volume.
const NetworkVolumePath = "/runpod-volume"

// Container are the fields of an endpoint whose workers are container
// images (one container per worker). They are inlined in Endpoint.
type Container struct {
	// Image is the worker image, e.g. "registry.example.com/me/worker:1".
	// With an image, Command (when set) replaces the image's entrypoint and
	// Args its CMD. Default: none (workers are processes running Command).
	Image string `yaml:"image"`
	// Args replace the image's CMD. Default: the image's.
	Args []string `yaml:"args"`
	// Runtime is "docker" or "podman". Default: the first of podman and
	// docker on PATH whose engine answers (`podman info`, `docker info`).
	Runtime string `yaml:"runtime"`
	// RuntimeArgs are global flags put before `run`, e.g.
	// [--runtime, runc, --cgroup-manager, cgroupfs]. Default: none.
	RuntimeArgs []string `yaml:"runtimeArgs"`
	// RunArgs are extra flags for `run`, put before the image. Setting
	// --network (or --net) there replaces the default host networking: the
	// workers then reach the worker API at the runtime's name for the host
	// (host.containers.internal, host.docker.internal), so sluice serve must
	// listen on an address that network reaches. Default: none.
	RunArgs []string `yaml:"runArgs"`
	// Pull is "always", "missing" or "never". Default "missing".
	Pull string `yaml:"pull"`
	// Volumes are bind mounts "host:container[:options]" (options: ro, rw,
	// z, Z, comma-separated). A relative host path is relative to the
	// config file's directory; a bare name is a named volume. Default: none.
	Volumes []string `yaml:"volumes"`
	// NetworkVolume is a host directory mounted at /runpod-volume, as
	// Runpod mounts an endpoint's network volume. Relative to the config
	// file's directory. Default: none.
	NetworkVolume string `yaml:"networkVolume"`
	// ShmSize is /dev/shm's size, in bytes or with a unit ("8GiB").
	// Default 0: the runtime's (64 MB).
	ShmSize Size `yaml:"shmSize"`
	// Ports are ports the worker listens on, published on the host when
	// the container is not on the host network. Default: none.
	Ports []int `yaml:"ports"`
}

// IsImage reports whether the endpoint's workers are containers.
func (e *Endpoint) IsImage() bool { return e.Image != "" }

// RawContainer is Container as read from YAML, before validation (exported
// only so that the decoder can fill it inline).
type RawContainer struct {
	Image         string   `yaml:"image"`
	Args          []string `yaml:"args"`
	Runtime       string   `yaml:"runtime"`
	RuntimeArgs   []string `yaml:"runtimeArgs"`
	RunArgs       []string `yaml:"runArgs"`
	Pull          string   `yaml:"pull"`
	Volumes       []string `yaml:"volumes"`
	NetworkVolume string   `yaml:"networkVolume"`
	ShmSize       any      `yaml:"shmSize"`
	Ports         []int    `yaml:"ports"`
}

// volumeOptions are the options a volume may carry.
var volumeOptions = []string{"ro", "rw", "z", "Z"}

// container checks and defaults an endpoint's container fields.
func (v *validator) container(at func(string) string, r *rawEndpoint, ep *Endpoint) {
	c := &r.RawContainer
	ep.Container = Container{
		Image: c.Image, Args: c.Args, Runtime: c.Runtime, RuntimeArgs: c.RuntimeArgs, RunArgs: c.RunArgs,
		Pull: c.Pull, NetworkVolume: c.NetworkVolume, Ports: c.Ports,
	}
	ep.ShmSize = v.size(at("shmSize"), c.ShmSize)
	if ep.Image == "" {
		for field, set := range map[string]bool{
			"args": c.Args != nil, "runtime": c.Runtime != "", "runtimeArgs": c.RuntimeArgs != nil, "runArgs": c.RunArgs != nil,
			"pull": c.Pull != "", "volumes": c.Volumes != nil, "networkVolume": c.NetworkVolume != "", "shmSize": c.ShmSize != nil,
			"ports": c.Ports != nil,
		} {
			if set {
				v.fail(at(field), "is for container workers: set image too")
			}
		}
		return
	}
	if strings.TrimSpace(ep.Image) != ep.Image || strings.ContainsAny(ep.Image, " \t\r\n\x00") || strings.HasPrefix(ep.Image, "-") {
		v.fail(at("image"), "%q is not an image reference", ep.Image)
	}
	if r.Dir != "" {
		v.fail(at("dir"), "is for process workers; an image's working directory is its WORKDIR (or runArgs [--workdir, DIR])")
	}
	switch ep.Runtime {
	case "", RuntimeDocker, RuntimePodman:
	default:
		v.fail(at("runtime"), "%q is not %s or %s", ep.Runtime, RuntimeDocker, RuntimePodman)
	}
	switch ep.Pull {
	case "":
		ep.Pull = DefaultPull
	case PullAlways, PullMissing, PullNever:
	default:
		v.fail(at("pull"), "%q is not %s, %s or %s", ep.Pull, PullAlways, PullMissing, PullNever)
	}
	v.noNUL(at("args"), ep.Args)
	v.noNUL(at("runtimeArgs"), ep.RuntimeArgs)
	v.noNUL(at("runArgs"), ep.RunArgs)
	base := filepath.Dir(v.name)
	for i, vol := range c.Volumes {
		resolved, err := volume(vol, base)
		if err != nil {
			v.fail(fmt.Sprintf("%s[%d]", at("volumes"), i), "%q: %v", vol, err)
			continue
		}
		ep.Volumes = append(ep.Volumes, resolved)
	}
	if nv := ep.NetworkVolume; nv != "" {
		if strings.ContainsAny(nv, ":,\x00") {
			v.fail(at("networkVolume"), "%q: a host directory may not contain ':', ',' or NUL", nv)
		} else if !filepath.IsAbs(nv) {
			ep.NetworkVolume = filepath.Join(base, nv)
		}
	}
	seen := map[int]bool{}
	for i, p := range ep.Ports {
		f := fmt.Sprintf("%s[%d]", at("ports"), i)
		switch {
		case p < 1 || p > 65535:
			v.fail(f, "%d is not a port (1 to 65535)", p)
		case seen[p]:
			v.fail(f, "%d is listed twice", p)
		}
		seen[p] = true
	}
}

// volume checks "host:container[:options]" and makes a relative host path
// absolute against base.
func volume(s, base string) (string, error) {
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" || strings.ContainsRune(s, 0) {
		return "", fmt.Errorf("not host:container[:options]")
	}
	host, ctr := parts[0], parts[1]
	if !strings.HasPrefix(ctr, "/") {
		return "", fmt.Errorf("the container path %q is not absolute", ctr)
	}
	if len(parts) == 3 {
		for o := range strings.SplitSeq(parts[2], ",") {
			if !slices.Contains(volumeOptions, o) {
				return "", fmt.Errorf("option %q is not one of %s", o, strings.Join(volumeOptions, ", "))
			}
		}
	}
	// A bare name is a named volume; anything with a slash or a leading dot is a path.
	if !filepath.IsAbs(host) && (strings.HasPrefix(host, ".") || strings.Contains(host, "/")) {
		parts[0] = filepath.Join(base, host)
	}
	return strings.Join(parts, ":"), nil
}

// noNUL fails for each element of list holding a NUL byte.
func (v *validator) noNUL(field string, list []string) {
	for j, a := range list {
		if strings.ContainsRune(a, 0) {
			v.fail(fmt.Sprintf("%s[%d]", field, j), "contains a NUL byte")
		}
	}
}
