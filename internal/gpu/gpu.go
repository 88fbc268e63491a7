// Package gpu discovers the machine's NVIDIA GPUs for `gpus: auto` in
// sluice.yaml, by running `nvidia-smi -L` (installed with the driver, so it
// is there wherever CUDA works).
package gpu

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// DiscoverTimeout bounds one run of nvidia-smi.
const DiscoverTimeout = 15 * time.Second

// ErrNoGPU means the machine has no usable NVIDIA GPU: nvidia-smi is missing,
// fails, or lists none.
var ErrNoGPU = errors.New("no NVIDIA GPU found")

// Device is one device a worker can be given.
type Device struct {
	// ID is what goes in CUDA_VISIBLE_DEVICES and the runtime's device
	// request: the GPU's index ("0"), or a MIG device's UUID ("MIG-...").
	ID string
	// Name is the model, e.g. "NVIDIA A100-SXM4-40GB" (for a MIG device,
	// its profile, e.g. "MIG 1g.5gb").
	Name string
	// UUID is the device's UUID ("GPU-..." or "MIG-...").
	UUID string
}

// Discover lists the machine's GPUs with `nvidia-smi -L`. A GPU split into
// MIG devices is listed as those devices. It returns an error wrapping
// ErrNoGPU when there is none.
func Discover(ctx context.Context) ([]Device, error) {
	ctx, cancel := context.WithTimeout(ctx, DiscoverTimeout)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "nvidia-smi", "-L")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = strings.TrimSpace(string(out))
		}
		if msg != "" {
			return nil, fmt.Errorf("%w: nvidia-smi -L: %w: %s", ErrNoGPU, err, firstLine(msg))
		}
		return nil, fmt.Errorf("%w: nvidia-smi -L: %w", ErrNoGPU, err)
	}
	devs, err := ParseList(out)
	if err != nil {
		return nil, fmt.Errorf("nvidia-smi -L: %w", err)
	}
	if len(devs) == 0 {
		return nil, fmt.Errorf("%w: nvidia-smi -L lists no device", ErrNoGPU)
	}
	return devs, nil
}

// IDs returns the devices' ids, in order.
func IDs(devs []Device) []string {
	ids := make([]string, len(devs))
	for i, d := range devs {
		ids[i] = d.ID
	}
	return ids
}

// ParseList reads the output of `nvidia-smi -L`:
//
//	GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-5f1c...)
//	  MIG 1g.5gb      Device  0: (UUID: MIG-7a2e...)
//
// A GPU with MIG devices is replaced by its MIG devices (by UUID, which is
// how CUDA_VISIBLE_DEVICES names them). Blank lines are skipped; any other
// line is an error.
func ParseList(out []byte) ([]Device, error) {
	var devs []Device
	gpuAt := -1 // index in devs of the last GPU line, while it has no MIG device
	sc := bufio.NewScanner(bytes.NewReader(out))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		head, uuid, err := splitUUID(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		switch {
		case strings.HasPrefix(head, "GPU "):
			idx, name, ok := strings.Cut(strings.TrimPrefix(head, "GPU "), ":")
			if !ok || !isIndex(idx) {
				return nil, fmt.Errorf("line %d: %q: no GPU index", n, line)
			}
			devs = append(devs, Device{ID: idx, Name: strings.TrimSpace(name), UUID: uuid})
			gpuAt = len(devs) - 1
		case strings.HasPrefix(head, "MIG "):
			if len(devs) == 0 {
				return nil, fmt.Errorf("line %d: a MIG device before any GPU", n)
			}
			if !strings.HasPrefix(uuid, "MIG-") {
				return nil, fmt.Errorf("line %d: MIG device UUID %q does not start with MIG-", n, uuid)
			}
			if gpuAt >= 0 { // its parent GPU is replaced by its MIG devices
				devs = devs[:gpuAt]
				gpuAt = -1
			}
			name, _, _ := strings.Cut(head, "Device")
			devs = append(devs, Device{ID: uuid, Name: strings.TrimSpace(name), UUID: uuid})
		default:
			return nil, fmt.Errorf("line %d: %q is neither a GPU nor a MIG device", n, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	seen := make(map[string]bool, len(devs))
	for _, d := range devs {
		if seen[d.ID] {
			return nil, fmt.Errorf("device %s is listed twice", d.ID)
		}
		seen[d.ID] = true
	}
	return devs, nil
}

// splitUUID splits "HEAD (UUID: X)" into HEAD and X.
func splitUUID(line string) (string, string, error) {
	i := strings.LastIndex(line, "(UUID: ")
	if i < 0 || !strings.HasSuffix(line, ")") {
		return "", "", fmt.Errorf("%q has no (UUID: ...)", line)
	}
	uuid := line[i+len("(UUID: ") : len(line)-1]
	if uuid == "" || strings.ContainsAny(uuid, " ,\t") {
		return "", "", fmt.Errorf("%q: bad UUID %q", line, uuid)
	}
	return strings.TrimSpace(line[:i]), uuid, nil
}

func isIndex(s string) bool {
	if s == "" || len(s) > 4 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}
