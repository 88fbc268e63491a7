package config_test

import (
	"fmt"

	"github.com/sluicehq/sluice/internal/config"
)

func ExampleLoad() {
	f, err := config.Load("testdata/sluice.example.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, ep := range f.Endpoints {
		fmt.Printf("%s managed=%v workers=%d..%d %s/%d gpus=%d of %v key=%s\n",
			ep.ID, ep.Managed(), ep.WorkersMin, ep.WorkersMax, ep.ScalerType, ep.ScalerValue, ep.GPUCount, ep.GPUs, ep.WorkerKey)
	}
	// Output:
	// echo managed=true workers=0..3 QUEUE_DELAY/4 gpus=1 of [0 1 2 3] key=worker-key
	// llm managed=true workers=0..2 REQUEST_COUNT/1 gpus=2 of [4 5 6 7] key=llm-worker-key
	// external managed=false workers=0..3 QUEUE_DELAY/4 gpus=0 of [] key=worker-key
	// image managed=true workers=0..3 QUEUE_DELAY/4 gpus=0 of [] key=worker-key
}

func ExampleParse_error() {
	_, err := config.Parse([]byte(`
endpoints:
  - id: a
    scalerType: FAST
    workersMax: 1
    workersMin: 2
`), "sluice.yaml")
	fmt.Println(err)
	// Output:
	// sluice.yaml:4: endpoints[0].scalerType: "FAST" is not QUEUE_DELAY or REQUEST_COUNT
	// sluice.yaml:6: endpoints[0].workersMin: 2 is more than workersMax (1)
}
