package api

import (
	"bytes"
	"fmt"
	"testing"
)

// BenchmarkDecodeSubmit is the /run body decoder on a small body and on
// one at the 10 MiB limit.
func BenchmarkDecodeSubmit(b *testing.B) {
	for _, size := range []int{1 << 10, 10 << 20} {
		body := []byte(`{"input":{"prompt":"` + string(bytes.Repeat([]byte("x"), size-64)) + `"},"policy":{"executionTimeout":60000},"webhook":"https://h/x"}`)
		b.Run(fmt.Sprintf("%dB", len(body)), func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := DecodeSubmit(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecodeDone is the job-done decoder on a 1 MiB result, with and
// without Python's NaN tokens (which take the sanitizing path).
func BenchmarkDecodeDone(b *testing.B) {
	plain := []byte(`{"output": {"values": [` + string(bytes.Repeat([]byte("1.5, "), 1<<18)) + `1]}}`)
	nan := bytes.Replace(plain, []byte("1]"), []byte("NaN]"), 1)
	for name, body := range map[string][]byte{"plain": plain, "nan": nan} {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := DecodeDone(body, false); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
