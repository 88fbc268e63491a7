package scaler

import (
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/testutil"
)

// TestContainerRunArgs pins the exact run command of an image worker for
// both runtimes: labels, host networking, env by name, the GPUs the
// runtime's way (docker --gpus "device=..."; podman CDI devices), volumes,
// the network volume, /dev/shm, the entrypoint override and runArgs.
func TestContainerRunArgs(t *testing.T) {
	for _, rt := range []string{config.RuntimeDocker, config.RuntimePodman} {
		t.Run(rt, func(t *testing.T) {
			e := &config.Endpoint{ID: "llm", Command: []string{"/start.sh", "--fast"}, Container: config.Container{
				Image: "registry.example.com/me/llm:2", Args: []string{"--model", "m"}, Runtime: rt,
				RuntimeArgs: []string{"--log-level", "warn"}, RunArgs: []string{"--memory", "8g"}, Pull: config.PullAlways,
				Volumes: []string{"/models:/models:ro", "hf:/root/.cache"}, NetworkVolume: "/srv/vol", ShmSize: 1 << 30,
				Ports: []int{8000},
			}}
			spec := runSpec{Endpoint: e, Worker: "llm-0a1b2c", Server: "sluice-42", Env: []string{"RUNPOD_POD_ID", "CUDA_VISIBLE_DEVICES"},
				GPUs: []string{"2", "3"}}
			testutil.GoldenText(t, "container/"+rt+"-gpus", []byte(strings.Join(spec.args(), "\n")))
		})
	}
	// Without GPUs or extras; runArgs choosing the network publish the ports.
	e := &config.Endpoint{ID: "echo", Container: config.Container{Image: "echo:1", Runtime: config.RuntimePodman, Pull: config.PullNever,
		RunArgs: []string{"--network=bridge"}, Ports: []int{8000, 8001}}}
	spec := runSpec{Endpoint: e, Worker: "echo-1", Server: "s", Env: []string{"RUNPOD_POD_ID"}}
	testutil.GoldenText(t, "container/podman-plain", []byte(strings.Join(spec.args(), "\n")))
	// Docker on its own network gets the host's name for the worker API.
	e.Runtime = config.RuntimeDocker
	testutil.GoldenText(t, "container/docker-network", []byte(strings.Join(spec.args(), "\n")))
	// An LB worker on a network of its own publishes its PORT and
	// PORT_HEALTH (once when they are the same) on the host's loopback.
	spec.LBPorts = []int{41000, 41000}
	testutil.GoldenText(t, "container/docker-lb-network", []byte(strings.Join(spec.args(), "\n")))
}

// TestOnHostGateway: on a network of its own, a container reaches the
// worker API at the runtime's name for the host; other values stay.
func TestOnHostGateway(t *testing.T) {
	env := []string{"RUNPOD_WEBHOOK_GET_JOB=http://127.0.0.1:8080/v2/ep/job-take/$ID?", "RUNPOD_AI_API_KEY=k",
		"OTHER=http://127.0.0.1:80800/x", "RUNPOD_WEBHOOK_PING=http://127.0.0.1:8080/v2/ep/ping/$RUNPOD_POD_ID"}
	got := strings.Join(onHostGateway(env, "http://127.0.0.1:8080", config.RuntimePodman), " ")
	want := "RUNPOD_WEBHOOK_GET_JOB=http://host.containers.internal:8080/v2/ep/job-take/$ID? RUNPOD_AI_API_KEY=k " +
		"OTHER=http://127.0.0.1:80800/x RUNPOD_WEBHOOK_PING=http://host.containers.internal:8080/v2/ep/ping/$RUNPOD_POD_ID"
	if got != want {
		t.Errorf("podman:\n%s\nwant\n%s", got, want)
	}
	if got := onHostGateway(env[:1], "http://[::1]:9", config.RuntimeDocker); got[0] != env[0] {
		t.Errorf("another base changed %q", got[0])
	}
	if got := onHostGateway([]string{"A=http://[::1]:9/v2/x"}, "http://[::1]:9", config.RuntimeDocker); got[0] != "A=http://host.docker.internal:9/v2/x" {
		t.Errorf("docker, IPv6 base: %q", got[0])
	}
}

func TestGPUEnv(t *testing.T) {
	for _, tt := range []struct {
		gpus []string
		want string
	}{
		{nil, ""},
		{[]string{"2", "3"}, "CUDA_VISIBLE_DEVICES=0,1 NVIDIA_VISIBLE_DEVICES=2,3"},
		{[]string{"GPU-a", "MIG-b"}, "CUDA_VISIBLE_DEVICES=GPU-a,MIG-b NVIDIA_VISIBLE_DEVICES=GPU-a,MIG-b"},
	} {
		if got := strings.Join(gpuEnv(tt.gpus), " "); got != tt.want {
			t.Errorf("gpuEnv(%v) = %q, want %q", tt.gpus, got, tt.want)
		}
	}
}
