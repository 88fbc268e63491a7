package config

import (
	"context"
	"errors"
	"fmt"

	"github.com/sluicehq/sluice/internal/gpu"
)

// GPUsAuto is the value of a gpus field that lists the machine's GPUs when
// the file is read (nvidia-smi -L).
const GPUsAuto = "auto"

// Options change how ParseWith reads a file. The zero value is Parse's.
type Options struct {
	// DiscoverGPUs lists the machine's GPU ids for `gpus: auto`. It is
	// called at most once per file, and only when a gpus field is auto.
	// Default: gpu.Discover (nvidia-smi -L).
	DiscoverGPUs func(ctx context.Context) ([]string, error)
}

// gpuDiscovery is the outcome of DiscoverGPUs for one file.
type gpuDiscovery struct {
	done bool
	ids  []string
	err  error
}

func isAuto(x any) bool { s, ok := x.(string); return ok && s == GPUsAuto }

// gpuList reads a gpus field: a list of device ids, or auto.
func (v *validator) gpuList(field string, x any) []string {
	switch g := x.(type) {
	case nil:
		return nil
	case string:
		if g == GPUsAuto {
			return v.discoverGPUs()
		}
	case []any:
		ids := make([]string, 0, len(g))
		for i, e := range g {
			switch id := e.(type) {
			case string:
				ids = append(ids, id)
			case uint64, int64:
				ids = append(ids, fmt.Sprint(id))
			default:
				v.fail(fmt.Sprintf("%s[%d]", field, i), "%v is not a device id", e)
			}
		}
		v.devices(field, ids)
		return ids
	}
	v.fail(field, "%v is not a list of device ids or %s", x, GPUsAuto)
	return nil
}

// discoverGPUs lists the machine's GPUs, once per file.
func (v *validator) discoverGPUs() []string {
	if !v.gpus.done {
		v.gpus.done = true
		discover := v.opts.DiscoverGPUs
		if discover == nil {
			discover = func(ctx context.Context) ([]string, error) {
				devs, err := gpu.Discover(ctx)
				return gpu.IDs(devs), err
			}
		}
		v.gpus.ids, v.gpus.err = discover(context.Background())
		if v.gpus.err == nil && len(v.gpus.ids) == 0 {
			v.gpus.err = errors.New("no device listed")
		}
	}
	return v.gpus.ids
}
