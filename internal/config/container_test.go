package config

import (
	"context"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestParseImage(t *testing.T) {
	t.Parallel()
	src := `
endpoints:
  - id: img
    image: localhost/worker:1
    command: [/worker, --verbose]
    args: [--x]
    runtime: podman
    runtimeArgs: [--runtime, runc, --cgroup-manager, cgroupfs]
    runArgs: [--memory, 2g]
    pull: never
    volumes: [/models:/models:ro, ./cache:/cache, hf:/root/.cache/huggingface]
    networkVolume: vol
    env: {HF_HOME: /runpod-volume/hf}
    shmSize: 1GiB
    ports: [8000, 8001]
  - id: plain
    image: worker
`
	f, err := Parse([]byte(src), "/etc/sluice/sluice.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e := f.Endpoints[0]
	want := Container{
		Image: "localhost/worker:1", Args: []string{"--x"}, Runtime: RuntimePodman,
		RuntimeArgs: []string{"--runtime", "runc", "--cgroup-manager", "cgroupfs"}, RunArgs: []string{"--memory", "2g"},
		Pull: PullNever, Volumes: []string{"/models:/models:ro", "/etc/sluice/cache:/cache", "hf:/root/.cache/huggingface"},
		NetworkVolume: "/etc/sluice/vol", ShmSize: 1 << 30, Ports: []int{8000, 8001},
	}
	if !reflect.DeepEqual(e.Container, want) {
		t.Errorf("container = %+v\nwant %+v", e.Container, want)
	}
	if !e.Managed() || !e.IsImage() || !reflect.DeepEqual(e.Command, []string{"/worker", "--verbose"}) {
		t.Errorf("endpoint = %+v", e)
	}
	p := f.Endpoints[1]
	if !p.Managed() || p.Pull != PullMissing || p.Runtime != "" || len(p.Command) != 0 {
		t.Errorf("defaults = %+v", p)
	}
}

func TestParseImageErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, src, want string }{
		{"runtime", "endpoints:\n  - id: a\n    image: w\n    runtime: lxc\n", `f.yaml:4: endpoints[0].runtime: "lxc" is not docker or podman`},
		{"pull", "endpoints:\n  - id: a\n    image: w\n    pull: sometimes\n", `f.yaml:4: endpoints[0].pull: "sometimes" is not always, missing or never`},
		{"volume shape", "endpoints:\n  - id: a\n    image: w\n    volumes: [/a]\n", `f.yaml:4: endpoints[0].volumes[0]: "/a": not host:container[:options]`},
		{"volume relative", "endpoints:\n  - id: a\n    image: w\n    volumes:\n      - /a:/b\n      - /a:b\n", `f.yaml:6: endpoints[0].volumes[1]: "/a:b": the container path "b" is not absolute`},
		{"volume option", "endpoints:\n  - id: a\n    image: w\n    volumes: [\"/a:/b:rx\"]\n", `f.yaml:4: endpoints[0].volumes[0]: "/a:/b:rx": option "rx" is not one of ro, rw, z, Z`},
		{"port", "endpoints:\n  - id: a\n    image: w\n    ports: [80, 70000]\n", `f.yaml:4: endpoints[0].ports[1]: 70000 is not a port`},
		{"port twice", "endpoints:\n  - id: a\n    image: w\n    ports: [80, 80]\n", `f.yaml:4: endpoints[0].ports[1]: 80 is listed twice`},
		{"shm", "endpoints:\n  - id: a\n    image: w\n    shmSize: big\n", `f.yaml:4: endpoints[0].shmSize: big is not a size`},
		{"image spaces", "endpoints:\n  - id: a\n    image: \"a b\"\n", `f.yaml:3: endpoints[0].image: "a b" is not an image reference`},
		{"dir with image", "endpoints:\n  - id: a\n    image: w\n    dir: x\n", `f.yaml:4: endpoints[0].dir: is for process workers`},
		{"runArgs without image", "endpoints:\n  - id: a\n    command: [w]\n    runArgs: [--x]\n", `f.yaml:4: endpoints[0].runArgs: is for container workers: set image too`},
		{"network volume colon", "endpoints:\n  - id: a\n    image: w\n    networkVolume: \"a:b\"\n", `f.yaml:4: endpoints[0].networkVolume: "a:b": a host directory may not contain`},
		{"nvidia env", "endpoints:\n  - id: a\n    image: w\n    workersMax: 1\n    gpus: [\"0\"]\n    env: {NVIDIA_VISIBLE_DEVICES: all}\n", `f.yaml:6: endpoints[0].env.NVIDIA_VISIBLE_DEVICES: is set from gpus`},
		{"unknown field", "endpoints:\n  - id: a\n    image: w\n    imagePull: never\n", `f.yaml:4: endpoints[0].imagePull: unknown field`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.src), "f.yaml")
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %v\nwant one error starting %q", err, tt.want)
			}
		})
	}
}

func TestParseGPUsAuto(t *testing.T) {
	t.Parallel()
	calls := 0
	found := func(context.Context) ([]string, error) { calls++; return []string{"0", "1", "2", "3"}, nil }
	src := "gpus: auto\nendpoints:\n  - id: a\n    image: w\n    gpuCount: 2\n    workersMax: 2\n  - id: b\n    command: [w]\n    gpus: auto\n    workersMax: 4\n"
	f, err := ParseWith([]byte(src), "f.yaml", Options{DiscoverGPUs: found})
	if err != nil {
		t.Fatal(err)
	}
	if calls != 1 || !reflect.DeepEqual(f.GPUs, []string{"0", "1", "2", "3"}) || f.Endpoints[0].GPUCount != 2 ||
		f.Endpoints[1].GPUCount != 1 || len(f.Endpoints[1].GPUs) != 4 {
		t.Errorf("calls %d, file gpus %v, endpoints %+v", calls, f.GPUs, f.Endpoints)
	}

	none := func(context.Context) ([]string, error) {
		return nil, errors.New("no NVIDIA GPU found: nvidia-smi -L: exec: \"nvidia-smi\": executable file not found in $PATH")
	}
	_, err = ParseWith([]byte("gpus: auto\nendpoints:\n  - id: a\n    image: w\n    gpuCount: 1\n"), "f.yaml", Options{DiscoverGPUs: none})
	want := `f.yaml:5: endpoints[0].gpuCount: 1 GPUs per worker, but gpus: auto found no GPU on this machine: no NVIDIA GPU found: nvidia-smi -L: exec: "nvidia-smi"`
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("no GPU: %v\nwant %s", err, want)
	}
	// An endpoint's own gpus: auto means one GPU per worker.
	_, err = ParseWith([]byte("endpoints:\n  - id: a\n    command: [w]\n    gpus: auto\n"), "f.yaml", Options{DiscoverGPUs: none})
	if err == nil || !strings.Contains(err.Error(), "endpoints[0].gpuCount: 1 GPUs per worker, but gpus: auto found no GPU") {
		t.Errorf("endpoint auto, no GPU: %v", err)
	}
	// A CPU endpoint does not care.
	if _, err := ParseWith([]byte("gpus: auto\nendpoints:\n  - id: a\n    command: [w]\n"), "f.yaml", Options{DiscoverGPUs: none}); err != nil {
		t.Errorf("CPU endpoint with gpus: auto and no GPU: %v", err)
	}
	if _, err := Parse([]byte("gpus: all\nendpoints:\n  - id: a\n"), "f.yaml"); err == nil || !strings.HasPrefix(err.Error(), "f.yaml:1: gpus: all is not a list of device ids or auto") {
		t.Errorf("gpus: all: %v", err)
	}
	f, err = Parse([]byte("gpus: [0, 1]\nendpoints:\n  - id: a\n    gpuCount: 1\n    workersMax: 2\n"), "f.yaml")
	if err != nil || !reflect.DeepEqual(f.Endpoints[0].GPUs, []string{"0", "1"}) {
		t.Errorf("numeric ids: %v %+v", err, f)
	}
}

// readmeYAML returns the last yaml block of README.md containing marker.
func readmeYAML(t *testing.T, marker string) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var block string
	for part := range strings.SplitSeq(string(b), "```yaml\n") {
		if y, _, ok := strings.Cut(part, "```"); ok && strings.Contains(y, marker) {
			block = y
		}
	}
	if block == "" {
		t.Fatalf("no yaml block with %s in README.md", marker)
	}
	return block
}

// TestReadmeImageExample parses the README's image endpoint on a machine
// with four GPUs, so it stays valid.
func TestReadmeImageExample(t *testing.T) {
	four := func(context.Context) ([]string, error) { return []string{"0", "1", "2", "3"}, nil }
	f, err := ParseWith([]byte(readmeYAML(t, "networkVolume:")), "README.md", Options{DiscoverGPUs: four})
	if err != nil {
		t.Fatal(err)
	}
	e := f.Endpoint("sd")
	if e == nil || !e.IsImage() || e.NetworkVolume != "/srv/sd-vol" || e.ShmSize != 8<<30 || len(e.GPUs) != 4 {
		t.Errorf("parsed %+v", e)
	}
}
