package gpu

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseList(t *testing.T) {
	out := "GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-5f1c0a2e-0000-1111-2222-333344445555)\n" +
		"GPU 1: NVIDIA A100-SXM4-40GB (UUID: GPU-6a2d0a2e-0000-1111-2222-333344445555)\n" +
		"  MIG 1g.5gb      Device  0: (UUID: MIG-7a2e0000-1111-2222-3333-444455556666)\n" +
		"  MIG 1g.5gb      Device  1: (UUID: MIG-8b3f0000-1111-2222-3333-444455556666)\n" +
		"\n" +
		"GPU 2: Tesla T4 (UUID: GPU-9c4e0a2e-0000-1111-2222-333344445555)\n"
	devs, err := ParseList([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	want := []Device{
		{ID: "0", Name: "NVIDIA A100-SXM4-40GB", UUID: "GPU-5f1c0a2e-0000-1111-2222-333344445555"},
		{ID: "MIG-7a2e0000-1111-2222-3333-444455556666", Name: "MIG 1g.5gb", UUID: "MIG-7a2e0000-1111-2222-3333-444455556666"},
		{ID: "MIG-8b3f0000-1111-2222-3333-444455556666", Name: "MIG 1g.5gb", UUID: "MIG-8b3f0000-1111-2222-3333-444455556666"},
		{ID: "2", Name: "Tesla T4", UUID: "GPU-9c4e0a2e-0000-1111-2222-333344445555"},
	}
	if !reflect.DeepEqual(devs, want) {
		t.Errorf("devices:\n%+v\nwant\n%+v", devs, want)
	}
	if ids := IDs(devs); strings.Join(ids, ",") != "0,MIG-7a2e0000-1111-2222-3333-444455556666,MIG-8b3f0000-1111-2222-3333-444455556666,2" {
		t.Errorf("IDs = %v", ids)
	}
}

func TestParseListErrors(t *testing.T) {
	for _, in := range []string{
		"No devices were found\n",
		"GPU x: Foo (UUID: GPU-1)\n",
		"  MIG 1g.5gb Device 0: (UUID: MIG-1)\n",
		"GPU 0: Foo (UUID: GPU-1)\n  MIG 1g.5gb Device 0: (UUID: GPU-2)\n",
		"GPU 0: Foo (UUID: )\n",
		"GPU 0: Foo (UUID: GPU-1)\nGPU 0: Foo (UUID: GPU-1)\n",
	} {
		if devs, err := ParseList([]byte(in)); err == nil {
			t.Errorf("%q accepted: %+v", in, devs)
		}
	}
}

// TestDiscoverWithoutGPU runs Discover with a PATH holding an nvidia-smi
// that fails as it does on a machine whose driver is not loaded, then with
// none at all: both are ErrNoGPU with nvidia-smi's words.
func TestDiscoverWithoutGPU(t *testing.T) {
	fakeSMI(t, "echo 'NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver.' >&2\nexit 9")
	_, err := Discover(context.Background())
	if !errors.Is(err, ErrNoGPU) || !strings.Contains(err.Error(), "could not communicate with the NVIDIA driver") {
		t.Errorf("failing nvidia-smi: %v", err)
	}
	t.Setenv("PATH", t.TempDir())
	if _, err := Discover(context.Background()); !errors.Is(err, ErrNoGPU) || !strings.Contains(err.Error(), "nvidia-smi") {
		t.Errorf("no nvidia-smi: %v", err)
	}
}

// TestDiscoverFake runs Discover against a stand-in nvidia-smi printing two GPUs.
func TestDiscoverFake(t *testing.T) {
	fakeSMI(t, "[ \"$1\" = -L ] || exit 2\necho 'GPU 0: NVIDIA L4 (UUID: GPU-a)'\necho 'GPU 1: NVIDIA L4 (UUID: GPU-b)'")
	devs, err := Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(IDs(devs), ","); got != "0,1" {
		t.Errorf("ids %s", got)
	}
}

// fakeSMI puts an nvidia-smi running the shell script body alone on PATH.
func fakeSMI(t *testing.T, body string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "nvidia-smi"), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
}

func FuzzParseList(f *testing.F) {
	f.Add([]byte("GPU 0: NVIDIA A100 (UUID: GPU-1)\n  MIG 1g.5gb Device 0: (UUID: MIG-2)\n"))
	f.Add([]byte("GPU 12: Tesla T4 (UUID: GPU-x)\n\nGPU 13: Tesla T4 (UUID: GPU-y)\n"))
	f.Add([]byte("No devices were found\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		devs, err := ParseList(data)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, d := range devs {
			// Every id is usable in CUDA_VISIBLE_DEVICES and --gpus device=.
			if d.ID == "" || strings.ContainsAny(d.ID, ", \t\r\n") || d.UUID == "" {
				t.Fatalf("bad device %+v from %q", d, data)
			}
			if seen[d.ID] {
				t.Fatalf("device %s twice from %q", d.ID, data)
			}
			seen[d.ID] = true
		}
	})
}
