package cli

import "testing"

// TestGCPercent: GOGC lets the heap grow by gcHeadroom beyond the live data,
// within [gcMinPercent, gcMaxPercent].
func TestGCPercent(t *testing.T) {
	for live, want := range map[uint64]int{0: 400, 16 << 20: 400, 64 << 20: 400, 128 << 20: 200, 256 << 20: 100, 1 << 30: 50, 8 << 30: 50} {
		if got := gcPercent(live); got != want {
			t.Errorf("gcPercent(%d MiB) = %d, want %d", live>>20, got, want)
		}
	}
}
